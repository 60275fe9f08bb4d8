-- PURCHASES(cond): distinct receipts (or lines, without receipt ids) where cond holds.
SELECT t.customer_id
FROM transactions t
JOIN customers c ON c.id = t.customer_id
WHERE t.ts <= DATE '2026-10-31' AND c.city = 'Lviv' AND c.gender = 'f'
GROUP BY t.customer_id
HAVING max(t.ts) > DATE '2026-10-31' - INTERVAL '30 days'
   AND PURCHASES(t.ts > DATE '2026-10-31' - INTERVAL '365 days') >= 3
   AND bool_or(t.category = 'Coffee' AND t.ts > DATE '2026-10-31' - INTERVAL '14 days')
   AND sum(t.amount) > 2000
