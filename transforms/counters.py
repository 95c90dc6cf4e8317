"""Names of the Beam metrics the pipeline reports; the summary and tests read them back."""

NAMESPACE = "streamflow"
READ = "read"
PARSED = "parsed"
SCORED = "scored"
ALERTS = "alerts"
LATE_EVENTS = "late_events"
# Confirmed outcomes (--feedback): read = accepted + their dlq_* records.
FEEDBACK_READ = "feedback_read"
FEEDBACK_ACCEPTED = "feedback_accepted"
# Blacklist changes (--blacklist_changes): read = accepted + their dlq_* records.
BLACKLIST_CHANGES_READ = "blacklist_changes_read"
BLACKLIST_CHANGES_ACCEPTED = "blacklist_changes_accepted"
STORE_CHANGES_UNAPPLIED = "store_blacklist_changes_unapplied"
# Registered versions (rules and models) read from --rules_topic: read = accepted + their
# dlq_* records. The rules_changes_* names predate model versions and count both kinds.
RULES_CHANGES_READ = "rules_changes_read"
RULES_CHANGES_ACCEPTED = "rules_changes_accepted"
# Per customer shard: versions it learned, and those it learned after it had scored past
# their effective time (they did not score what came before their arrival: docs/rules.md).
RULES_CHANGES_LEARNED = "rules_changes_learned_by_shards"
RULES_CHANGES_LATE = "rules_changes_late_in_shards"
# A version kept in a shard's state that no longer fits the job (a new --rules changed what the
# state keeps): skipped at each rebuild of the shard's registry.
RULES_CHANGES_UNUSABLE = "rules_changes_unusable_in_shards"
# A registered model version a worker could not load (unreachable, replaced): the records it
# should have scored keep their rules-only score (docs/rules.md, "Model versions").
MODEL_LOADS_FAILED = "model_loads_failed"
# A challenger in shadow that failed on an event: that record has no challenger verdict, and
# the champion's record and history are what they would be without the challenger.
CHALLENGER_FAILURES = "challenger_failures"
# Scored only to warm the state (before --emit_from), not emitted: part of "scored".
WARMUP_EVENTS = "warmup_events"
# Dead letters of the warm-up input, written by the run that read it first: not emitted.
WARMUP_DEAD_LETTERS = "warmup_dead_letters"
FUTURE_SCHEMA = "future_schema_events"
BLANK_LINES = "blank_lines_skipped"
DLQ_PREFIX = "dlq_"
# The dead letters of the control inputs (feedback, blacklist changes, registered versions):
# apart from the events', so that dlq_* / read is the share of the events dead-lettered.
CONTROL_DLQ_PREFIX = "control_dlq_"
# Real-time store metrics (transforms.realtime_metrics): dead letters with no time to place them
# in a minute (a file's line without a readable timestamp; a Kafka record always has one).
REALTIME_UNPLACED_DEAD_LETTERS = "realtime_unplaced_dead_letters"
# Alerts by rule: ALERTS_BY_RULE_PREFIX + the rule id lowercased, "-" as "_" (alerts_rule_fr_001).
ALERTS_BY_RULE_PREFIX = "alerts_rule_"
# End-to-end latency of the live job's alerts, in ms, from the transaction's Kafka time to the
# alert handed to the Kafka producer: cumulative bucket counters, Prometheus-style
# (ALERT_LATENCY_PREFIX + "le_<bound>", the last "le_inf" being the count) and their sum.
ALERT_LATENCY_PREFIX = "alert_latency_ms_"
ALERT_LATENCY_BOUNDS_MS = (50, 100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000)
# The newest event time (epoch ms) the live job's parse step has seen, a gauge set once per
# bundle: the event-time lag is the wall clock minus it (a recording rule), so the lag grows
# when the input stops instead of freezing at its last value.
NEWEST_EVENT_TIME_MS = "newest_event_time_ms"
