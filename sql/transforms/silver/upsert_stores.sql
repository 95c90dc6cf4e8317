-- silver.stores from the transactions changed in the window; location = the latest located one.
INSERT INTO silver.stores AS s (store_id, latitude, longitude, first_seen, last_seen, is_blacklisted)
SELECT t.store_id,
       (array_agg(t.latitude ORDER BY t.event_time DESC) FILTER (WHERE t.latitude IS NOT NULL))[1],
       (array_agg(t.longitude ORDER BY t.event_time DESC) FILTER (WHERE t.longitude IS NOT NULL))[1],
       min(t.event_time), max(t.event_time),
       coalesce(bool_or((t.rule_details -> 'FR-005' ->> 'store_blacklisted')::boolean), false)
FROM silver.clean_transactions t
WHERE t.store_id IN (
    SELECT store_id FROM silver.clean_transactions
    WHERE updated_at >= %(since)s AND updated_at < %(until)s
)
GROUP BY t.store_id
ON CONFLICT (store_id) DO UPDATE SET
    latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
    first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
    is_blacklisted = EXCLUDED.is_blacklisted, updated_at = now()
WHERE (s.latitude, s.longitude, s.first_seen, s.last_seen, s.is_blacklisted)
    IS DISTINCT FROM (EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.first_seen,
                      EXCLUDED.last_seen, EXCLUDED.is_blacklisted);
