"""The rules registry: ``python -m pipelines.rules register|list|show|diff|export``.

Versions are kept in ``silver.rules_registry`` (the audit) and published to the compacted
``reference.rules`` topic (what live jobs read); a replay is given them as a file
(``export``, then ``pipelines.fraud --rules_changes``; it holds the model versions of
``pipelines.models`` too). How a version takes effect: docs/rules.md.
"""
