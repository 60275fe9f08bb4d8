SELECT t.customer_id
FROM transactions t
JOIN customers c ON c.id = t.customer_id
WHERE t.ts <= DATE '2026-10-31'
  AND t.ts > DATE '2026-10-31' - INTERVAL '365 days'
  AND c.city = 'Kyiv'
GROUP BY t.customer_id
HAVING count(DISTINCT CASE WHEN t.ts > DATE '2026-10-31' - INTERVAL '90 days' THEN t.receipt_id END) >= 3
   AND bool_or(t.category = 'Coffee' AND t.ts > DATE '2026-10-31' - INTERVAL '30 days')
   AND max(CASE WHEN t.partner = 'OKKO' THEN t.ts END) > DATE '2026-10-31' - INTERVAL '60 days'
   AND sum(t.amount) > 1000
