SELECT t.customer_id
FROM transactions t
JOIN customers c ON c.id = t.customer_id
WHERE t.ts <= DATE '2026-10-31'
  AND t.ts > DATE '2026-10-31' - INTERVAL '365 days'
  AND c.city IN ('Kyiv', 'Lviv')
  AND NOT EXISTS (
    SELECT 1 FROM communications m
    WHERE m.customer_id = t.customer_id AND m.channel = 'sms'
      AND m.sent_at <= DATE '2026-10-31' AND m.sent_at > DATE '2026-10-31' - INTERVAL '14 days')
GROUP BY t.customer_id
HAVING sum(t.amount) > 2000
    OR count(DISTINCT CASE WHEN t.ts > DATE '2026-10-31' - INTERVAL '90 days' THEN t.receipt_id END) >= 5
