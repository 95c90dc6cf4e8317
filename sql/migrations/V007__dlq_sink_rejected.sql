-- A row the warehouse refuses (a CHECK, a type, a NOT NULL) is no longer only counted and
-- logged: the sink writes it to bronze.dlq_events as SINK_REJECTED (ErrorType). The CHECK
-- is replaced on the parent, which replaces it on every partition.
ALTER TABLE bronze.dlq_events
    DROP CONSTRAINT dlq_events_error_type_check,
    ADD CONSTRAINT dlq_events_error_type_check CHECK (error_type IN (
        'INVALID_JSON', 'NOT_AN_OBJECT', 'MISSING_FIELD', 'INVALID_FIELD',
        'UNSUPPORTED_SCHEMA', 'PAYLOAD_TOO_LARGE', 'PROCESSING_ERROR', 'SINK_REJECTED'));
