"""Model versions by event time: ``python -m pipelines.models register|list``.

A registered version is kept in ``silver.model_registry`` (beside ml.promote's decisions) and
published to the compacted ``reference.rules`` topic as a ``"kind": "model"`` record; live jobs
switch to it at ``effective_from``, and ``python -m pipelines.rules export`` writes it into the
registry file a replay reads. How a version takes effect: docs/rules.md, "Model versions".
"""
