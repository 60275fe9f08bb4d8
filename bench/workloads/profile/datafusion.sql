-- segql profile of segments.seg as of 2026-10-31: the whole base (customers with purchases,
-- and customers signed up by then) and each segment; lifecycle thresholds 30/60/180/365 days.
-- Purchases are receipts, rolled up once per (customer, receipt) (two COUNT(DISTINCT) of
-- different columns per customer take DataFusion 55 over 10 s and 5 GB at 100k customers).
WITH r AS (
  SELECT t.customer_id, t.receipt_id,
         min(t.ts) AS first_ts,
         max(t.ts) AS last_ts,
         sum(t.amount) AS amount,
         sum(t.quantity) AS items,
         bool_or(t.category = 'Coffee' AND t.ts > DATE '2026-10-31' - INTERVAL '90 days') AS coffee_90d,
         sum(CASE WHEN t.ts > DATE '2026-10-31' - INTERVAL '365 days' THEN t.amount END) AS amount_365d
  FROM transactions t
  WHERE t.ts <= DATE '2026-10-31' AND t.customer_id IS NOT NULL
  GROUP BY t.customer_id, t.receipt_id
), p AS (
  SELECT customer_id,
         min(first_ts) AS first_ts,
         max(last_ts) AS last_ts,
         sum(amount) AS monetary,
         count(receipt_id) AS purchases,
         sum(items) AS items,
         count(CASE WHEN coffee_90d THEN receipt_id END) AS coffee_90d,
         sum(amount_365d) AS monetary_365d
  FROM r
  GROUP BY customer_id
), c AS (
  SELECT id, max(city) AS city, max(registered) AS registered
  FROM customers
  WHERE id IS NOT NULL
  GROUP BY id
), base AS (
  SELECT CASE WHEN p.first_ts IS NULL THEN 'prospect'
              WHEN p.first_ts > DATE '2026-10-31' - INTERVAL '30 days' THEN 'new'
              WHEN p.last_ts > DATE '2026-10-31' - INTERVAL '60 days' THEN 'active'
              WHEN p.last_ts > DATE '2026-10-31' - INTERVAL '180 days' THEN 'at_risk'
              WHEN p.last_ts > DATE '2026-10-31' - INTERVAL '365 days' THEN 'churned'
              ELSE 'lost' END AS lifecycle,
         coalesce(p.monetary, 0) AS monetary,
         coalesce(p.purchases, 0) AS purchases,
         coalesce(p.items, 0) AS items,
         DATE '2026-10-31' - p.last_ts AS recency,
         coalesce(p.coffee_90d, 0) AS coffee_90d,
         coalesce(p.monetary_365d, 0) AS monetary_365d,
         c.city
  FROM p FULL JOIN c ON c.id = p.customer_id
  WHERE p.customer_id IS NOT NULL OR c.registered IS NULL OR c.registered <= DATE '2026-10-31'
), segs AS (
  SELECT * FROM (VALUES (0, 'all customers'), (1, 'at_risk'), (2, 'coffee_regulars'),
                        (3, 'kyiv_big_spenders')) AS s(k, segment)
), g AS (
  SELECT s.k, s.segment,
         count(*) AS n,
         CAST(sum(b.monetary) AS DOUBLE) AS revenue,
         CAST(sum(b.purchases) AS DOUBLE) AS purchases,
         CAST(sum(b.items) AS DOUBLE) AS items,
         avg(CAST(b.recency AS DOUBLE)) AS recency
  FROM base b CROSS JOIN segs s
  WHERE s.k = 0
     OR (s.k = 1 AND b.lifecycle = 'at_risk')
     OR (s.k = 2 AND b.coffee_90d >= 3)
     OR (s.k = 3 AND b.city = 'Kyiv' AND b.monetary_365d > 5000)
  GROUP BY s.k, s.segment
), t AS (
  SELECT g.*,
         max(CASE WHEN k = 0 THEN CAST(n AS DOUBLE) END) OVER () AS base_n,
         max(CASE WHEN k = 0 THEN revenue END) OVER () AS base_revenue
  FROM g
)
SELECT segment,
       n AS customers,
       round(CAST(n AS DOUBLE) / base_n * 100, 1) AS share_of_base_pct,
       round(revenue, 2) AS revenue,
       round(revenue / base_revenue * 100, 1) AS share_of_revenue_pct,
       round(revenue / purchases, 2) AS avg_check,
       round(purchases / n, 2) AS purchases_per_customer,
       round(items / purchases, 2) AS items_per_check,
       round(recency, 1) AS mean_recency_days
FROM t
