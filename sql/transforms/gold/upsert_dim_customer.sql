-- gold.dim_customer (surrogate keys stay stable: update in place, never re-insert).
INSERT INTO gold.dim_customer AS d (customer_id, first_seen, is_blacklisted)
SELECT customer_id, first_seen, is_blacklisted FROM silver.customers
WHERE updated_at >= %(since)s
ON CONFLICT (customer_id) DO UPDATE SET
    first_seen = EXCLUDED.first_seen, is_blacklisted = EXCLUDED.is_blacklisted
WHERE (d.first_seen, d.is_blacklisted) IS DISTINCT FROM (EXCLUDED.first_seen, EXCLUDED.is_blacklisted);
