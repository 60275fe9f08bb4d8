-- segql flows --every quarter from 2025-11-01 to 2026-10-31: per quarter (the first and the
-- last cut to those days), customers active (new, active or at risk: a purchase in the last
-- 180 days) the day before it starts and on its last day, and who entered (new: the first
-- purchase in the quarter; returned: bought before it) or left. The quarters' edges are six
-- days: the day before the first, then each quarter's last day. Every purchase is read: the
-- first one tells new from returned.
WITH a AS (
  SELECT customer_id,
         min(ts) AS first_ts,
         max(CASE WHEN ts > DATE '2025-10-31' - INTERVAL '180 days' AND ts <= DATE '2025-10-31' THEN 1 ELSE 0 END) AS a0,
         max(CASE WHEN ts > DATE '2025-12-31' - INTERVAL '180 days' AND ts <= DATE '2025-12-31' THEN 1 ELSE 0 END) AS a1,
         max(CASE WHEN ts > DATE '2026-03-31' - INTERVAL '180 days' AND ts <= DATE '2026-03-31' THEN 1 ELSE 0 END) AS a2,
         max(CASE WHEN ts > DATE '2026-06-30' - INTERVAL '180 days' AND ts <= DATE '2026-06-30' THEN 1 ELSE 0 END) AS a3,
         max(CASE WHEN ts > DATE '2026-09-30' - INTERVAL '180 days' AND ts <= DATE '2026-09-30' THEN 1 ELSE 0 END) AS a4,
         max(CASE WHEN ts > DATE '2026-10-31' - INTERVAL '180 days' AND ts <= DATE '2026-10-31' THEN 1 ELSE 0 END) AS a5
  FROM transactions
  WHERE ts <= DATE '2026-10-31' AND customer_id IS NOT NULL
  GROUP BY customer_id
), periods AS (
  SELECT * FROM (VALUES
    (1, '2025-Q4', DATE '2025-11-01', DATE '2025-12-31'),
    (2, '2026-Q1', DATE '2026-01-01', DATE '2026-03-31'),
    (3, '2026-Q2', DATE '2026-04-01', DATE '2026-06-30'),
    (4, '2026-Q3', DATE '2026-07-01', DATE '2026-09-30'),
    (5, '2026-Q4', DATE '2026-10-01', DATE '2026-10-31')) AS x(k, period, start_day, end_day)
), f AS (
  SELECT x.period, x.start_day, x.end_day, a.first_ts,
         CASE x.k WHEN 1 THEN a.a0 WHEN 2 THEN a.a1 WHEN 3 THEN a.a2 WHEN 4 THEN a.a3
                  ELSE a.a4 END AS was_active,
         CASE x.k WHEN 1 THEN a.a1 WHEN 2 THEN a.a2 WHEN 3 THEN a.a3 WHEN 4 THEN a.a4
                  ELSE a.a5 END AS is_active
  FROM a CROSS JOIN periods x
), g AS (
  SELECT period, start_day, end_day,
         sum(was_active) AS active_at_start,
         sum(CASE WHEN is_active = 1 AND was_active = 0 AND first_ts >= start_day THEN 1 ELSE 0 END) AS new_in,
         sum(CASE WHEN is_active = 1 AND was_active = 0 AND first_ts < start_day THEN 1 ELSE 0 END) AS returned,
         sum(CASE WHEN was_active = 1 AND is_active = 0 THEN 1 ELSE 0 END) AS left_,
         sum(is_active) AS active_at_end
  FROM f
  GROUP BY period, start_day, end_day
)
SELECT period, start_day, end_day, active_at_start, new_in, returned, left_,
       new_in + returned - left_ AS balance, active_at_end
FROM g
