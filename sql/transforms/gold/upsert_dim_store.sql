-- gold.dim_store (surrogate keys stay stable: update in place, never re-insert).
INSERT INTO gold.dim_store AS d (store_id, latitude, longitude, is_blacklisted)
SELECT store_id, latitude, longitude, is_blacklisted FROM silver.stores
WHERE updated_at >= %(since)s
ON CONFLICT (store_id) DO UPDATE SET
    latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
    is_blacklisted = EXCLUDED.is_blacklisted
WHERE (d.latitude, d.longitude, d.is_blacklisted)
    IS DISTINCT FROM (EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.is_blacklisted);
