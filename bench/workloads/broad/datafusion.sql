SELECT customer_id
FROM transactions
WHERE ts <= DATE '2026-10-31' AND customer_id IS NOT NULL
GROUP BY customer_id
HAVING max(ts) > DATE '2026-10-31' - INTERVAL '540 days'
   AND sum(amount) > 300
