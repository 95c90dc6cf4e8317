"""Names of the transforms' tagged outputs. Every step that can reject a record sends it to the
one dead-letter tag, so the pipeline flattens them into a single DLQ."""

DLQ_TAG = "dlq"
EVENTS_TAG = "events"
RAW_TAG = "raw"
SCORED_TAG = "scored"
ACCEPTED_TAG = "accepted"
