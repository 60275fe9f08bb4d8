-- recency < 30d and frequency >= 3
SELECT customer_id
FROM transactions
WHERE ts <= DATE '2026-10-31' AND customer_id IS NOT NULL
GROUP BY customer_id
HAVING max(ts) > DATE '2026-10-31' - INTERVAL '30 days'
   AND count(DISTINCT receipt_id) >= 3
