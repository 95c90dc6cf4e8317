-- Why the model scored an alert so: the inputs it saw and its top reasons (ml/reasons.py),
-- written by the pipeline on alerts scored by a model (null otherwise, and on older alerts).
-- The console shows them, and recomputes them from the inputs on demand.
ALTER TABLE bronze.fraud_alerts
    ADD COLUMN model_inputs jsonb,
    ADD COLUMN model_reasons jsonb;
