-- Deletes quality check results older than the retention; returns how many were deleted.
WITH deleted AS (
    DELETE FROM silver.quality_check_results
    WHERE checked_at < %(now)s::timestamptz - make_interval(days => %(retention_days)s::integer)
    RETURNING 1
)
SELECT count(*) AS deleted FROM deleted;
