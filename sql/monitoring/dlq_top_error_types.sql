-- The dead letters that arrived in [%(since)s, %(until)s), per error type, commonest first:
-- their number, the pipeline stages they came from and a few dlq_ids to look up.
SELECT error_type,
       count(*) AS dead_letters,
       array_agg(DISTINCT stage ORDER BY stage) AS stages,
       (array_agg(dlq_id ORDER BY received_at DESC, dlq_id))[1:%(samples)s] AS sample_dlq_ids
FROM bronze.dlq_events
WHERE received_at >= %(since)s AND received_at < %(until)s
GROUP BY error_type
ORDER BY dead_letters DESC, error_type
LIMIT %(top)s;
