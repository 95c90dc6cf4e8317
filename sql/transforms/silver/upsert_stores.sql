-- silver.stores from the transactions changed in the window; location = the latest located one.
-- The latest location is the max of [epoch, latitude, longitude] arrays (float8 epochs keep
-- microsecond order; equal times fall back to the position, so the pick is deterministic): a
-- hash aggregate, where array_agg(... ORDER BY event_time) sorted every transaction.
INSERT INTO silver.stores AS s (store_id, latitude, longitude, first_seen, last_seen, is_blacklisted)
SELECT store_id, located[2], located[3], first_seen, last_seen, is_blacklisted
FROM (
    SELECT t.store_id,
           max(ARRAY[date_part('epoch', t.event_time), t.latitude, t.longitude])
               FILTER (WHERE t.latitude IS NOT NULL) AS located,
           min(t.event_time) AS first_seen, max(t.event_time) AS last_seen,
           coalesce(bool_or((t.rule_details -> 'FR-005' ->> 'store_blacklisted')::boolean), false)
               AS is_blacklisted
    FROM silver.clean_transactions t
    WHERE t.store_id IN (
        SELECT store_id FROM silver.clean_transactions
        WHERE updated_at >= %(since)s AND updated_at < %(until)s
    )
    GROUP BY t.store_id
) AS latest
ON CONFLICT (store_id) DO UPDATE SET
    latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
    first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
    is_blacklisted = EXCLUDED.is_blacklisted, updated_at = now()
WHERE (s.latitude, s.longitude, s.first_seen, s.last_seen, s.is_blacklisted)
    IS DISTINCT FROM (EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.first_seen,
                      EXCLUDED.last_seen, EXCLUDED.is_blacklisted);
