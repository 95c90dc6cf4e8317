-- Inferred dimension members, in the fact load's own transaction: a customer, store or
-- product that a fact about to load names but its dimension lacks gets a placeholder row
-- (first seen at its earliest fact, not blacklisted, no location), so the load's joins never
-- drop the fact. When the dimension steps ran in the same snapshot (`pipelines.warehouse
-- refresh`) this inserts nothing. When they ran as separate tasks (the silver_to_gold DAG),
-- a sink transaction that committed between them and the fact load is what it catches; the
-- next refresh window, which overlaps this one, gives the member its real attributes through
-- the ordinary dimension steps (they update in place, keeping the surrogate key).
WITH changed AS (
    SELECT customer_id, store_id, product_id, event_time
    FROM silver.clean_transactions
    WHERE updated_at >= %(since)s AND updated_at < %(until)s
    UNION ALL
    SELECT customer_id, store_id, NULL, event_time
    FROM bronze.fraud_alerts
    WHERE ingested_at >= %(since)s AND ingested_at < %(until)s
),
customers AS (
    INSERT INTO gold.dim_customer (customer_id, first_seen, is_blacklisted)
    SELECT n.customer_id, min(n.event_time), false
    FROM changed n
    WHERE NOT EXISTS (SELECT FROM gold.dim_customer d WHERE d.customer_id = n.customer_id)
    GROUP BY n.customer_id
    ON CONFLICT (customer_id) DO NOTHING
    RETURNING 1
),
stores AS (
    INSERT INTO gold.dim_store (store_id, latitude, longitude, is_blacklisted)
    SELECT DISTINCT n.store_id, NULL::double precision, NULL::double precision, false
    FROM changed n
    WHERE NOT EXISTS (SELECT FROM gold.dim_store d WHERE d.store_id = n.store_id)
    ON CONFLICT (store_id) DO NOTHING
    RETURNING 1
),
products AS (
    INSERT INTO gold.dim_product (product_id)
    SELECT DISTINCT n.product_id
    FROM changed n
    WHERE n.product_id IS NOT NULL
      AND NOT EXISTS (SELECT FROM gold.dim_product d WHERE d.product_id = n.product_id)
    ON CONFLICT (product_id) DO NOTHING
    RETURNING 1
)
SELECT 1 FROM customers UNION ALL SELECT 1 FROM stores UNION ALL SELECT 1 FROM products;
