-- segql transitions --by lifecycle from 2026-06-30 to 2026-10-31: each customer's lifecycle
-- stage on both dates (thresholds 30/60/180/365 days), counted per pair, with its share of
-- the customers of the same earlier stage. On a date, the base is every customer with a
-- purchase by then and every customer signed up by then; anyone else is `(none)`.
WITH p AS (
  SELECT customer_id,
         min(ts) AS first_ts,
         max(CASE WHEN ts <= DATE '2026-06-30' THEN ts END) AS last_a,
         max(ts) AS last_b
  FROM transactions
  WHERE ts <= DATE '2026-10-31' AND customer_id IS NOT NULL
  GROUP BY customer_id
), c AS (
  SELECT id, max(registered) AS registered
  FROM customers
  WHERE id IS NOT NULL
  GROUP BY id
), s AS (
  SELECT
    CASE WHEN p.first_ts <= DATE '2026-06-30' THEN
           CASE WHEN p.first_ts > DATE '2026-06-30' - INTERVAL '30 days' THEN 'new'
                WHEN p.last_a > DATE '2026-06-30' - INTERVAL '60 days' THEN 'active'
                WHEN p.last_a > DATE '2026-06-30' - INTERVAL '180 days' THEN 'at_risk'
                WHEN p.last_a > DATE '2026-06-30' - INTERVAL '365 days' THEN 'churned'
                ELSE 'lost' END
         WHEN c.id IS NOT NULL AND (c.registered IS NULL OR c.registered <= DATE '2026-06-30')
           THEN 'prospect'
         ELSE '(none)' END AS from_stage,
    CASE WHEN p.first_ts IS NOT NULL THEN
           CASE WHEN p.first_ts > DATE '2026-10-31' - INTERVAL '30 days' THEN 'new'
                WHEN p.last_b > DATE '2026-10-31' - INTERVAL '60 days' THEN 'active'
                WHEN p.last_b > DATE '2026-10-31' - INTERVAL '180 days' THEN 'at_risk'
                WHEN p.last_b > DATE '2026-10-31' - INTERVAL '365 days' THEN 'churned'
                ELSE 'lost' END
         WHEN c.registered IS NULL OR c.registered <= DATE '2026-10-31' THEN 'prospect'
         ELSE '(none)' END AS to_stage
  FROM p FULL JOIN c ON c.id = p.customer_id
)
SELECT from_stage, to_stage, count(*) AS customers,
       round(CAST(count(*) AS DOUBLE) * 1000 / sum(count(*)) OVER (PARTITION BY from_stage)) / 10
         AS share_of_row_pct
FROM s
WHERE from_stage <> '(none)' OR to_stage <> '(none)'
GROUP BY from_stage, to_stage
