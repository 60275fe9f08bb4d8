WITH p AS (
  SELECT customer_id, max(ts) AS last_ts, count(DISTINCT receipt_id) AS f, sum(amount) AS m
  FROM transactions
  WHERE ts <= DATE '2026-10-31' AND ts > DATE '2026-10-31' - INTERVAL '365 days'
    AND customer_id IS NOT NULL
  GROUP BY customer_id
), s AS (
  SELECT customer_id,
         ntile(5) OVER (ORDER BY last_ts, customer_id) AS r,
         ntile(5) OVER (ORDER BY f, customer_id) AS f,
         ntile(5) OVER (ORDER BY m, customer_id) AS m
  FROM p
)
SELECT customer_id FROM s
WHERE r * 100 + f * 10 + m IN (255, 254, 245, 244, 253, 252, 243, 242, 235, 234, 225, 224,
                               153, 152, 145, 143, 142, 135, 134, 133, 125, 124)
