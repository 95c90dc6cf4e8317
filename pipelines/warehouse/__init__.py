"""The PostgreSQL warehouse's commands: ``python -m pipelines.warehouse <command> --dsn DSN``.

``migrate`` applies the versioned schema, ``refresh`` builds silver and gold from what changed,
``quality`` runs one data-quality check, ``maintain`` enforces retention and vacuums. The SQL
they run lives in the checkout's ``sql/`` folder and ships inside this package when installed
(:mod:`pipelines.warehouse.sql_files`). The Beam pipeline's writer into the warehouse is a
transform, ``transforms.postgres_sink``.
"""
