-- at_risk or churned: the last purchase 60 to 364 days ago (never `new` then).
SELECT customer_id || ',' ||
       CASE WHEN segql_holdout_bucket('bench', customer_id) < 1000 THEN 'control' ELSE 'test' END
FROM (
  SELECT customer_id, sum(amount) AS m
  FROM transactions
  WHERE ts <= DATE '2026-10-31' AND ts > DATE '2026-10-31' - INTERVAL '365 days'
    AND customer_id IS NOT NULL
  GROUP BY customer_id
  HAVING max(ts) <= DATE '2026-10-31' - INTERVAL '60 days' AND sum(amount) > 500
  ORDER BY m DESC, customer_id
  LIMIT 5000
)
