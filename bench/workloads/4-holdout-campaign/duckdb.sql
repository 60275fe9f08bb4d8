-- at_risk or churned: the last purchase 60 to 364 days ago (never `new` then).
-- The holdout bucket: FNV-1a 64 of 'bench', 0x1F and the id (ASCII), modulo 10,000.
SELECT customer_id || ',' ||
       CASE WHEN list_reduce(
                   list_transform(string_split('bench' || chr(31) || customer_id, ''),
                                  lambda c: ascii(c)::HUGEINT),
                   lambda h, b: (xor(h, b) * 1099511628211) % 18446744073709551616,
                   14695981039346656037::HUGEINT) % 10000 < 1000
            THEN 'control' ELSE 'test' END
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
