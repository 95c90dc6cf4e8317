"""StreamFlow: real-time fraud detection on Apache Beam.

This file is also what Beam ships to remote workers with ``--setup_file``: it
must stay importable without the project's development tools installed.
"""

from setuptools import find_packages, setup

setup(
    name="streamflow",
    version="0.1.0",
    description="Real-time fraud detection and retail analytics on Apache Beam",
    python_requires=">=3.11,<3.12",
    packages=[
        *find_packages(
            include=[
                "pipelines",
                "pipelines.*",
                "transforms",
                "transforms.*",
                "ml",
                "ml.*",
                "console",
                "console.*",
            ]
        ),
        # The warehouse's SQL, kept at the top of the checkout, ships inside the package.
        "pipelines.warehouse.sql",
    ],
    package_dir={"pipelines.warehouse.sql": "sql"},
    package_data={
        "transforms.domain": ["default_rules.yaml"],
        "pipelines.warehouse.sql": ["*/*.sql", "*/*/*.sql"],
        "console": ["templates/*.html", "static/*"],
    },
    install_requires=[
        "apache-beam==2.62.0",
        "PyYAML>=6.0",
        "tzdata",  # the business time zone must resolve on slim worker images too
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-cov>=5",
            "hypothesis>=6.100",
            "ruff>=0.6",
            "mypy>=1.11",
            "types-PyYAML",
            # Schema validation of the Kubernetes manifests (tests/k8s).
            "jsonschema>=4.23",
            "kubernetes-validate>=1.33",
            # The evaluation protocol's plots are tested too.
            "matplotlib>=3.8",
            # The console's API tests (Starlette's TestClient) and browser tests.
            "httpx>=0.28",
            "httpx2>=2.17",
            "selenium>=4.30",
        ],
        "postgres": [
            "psycopg[binary]>=3.2",
        ],
        # The Kafka client of the producer and of the tests around the live path.
        "kafka": [
            "confluent-kafka>=2.6",
        ],
        "ml": [
            "scikit-learn>=1.5",
            "joblib>=1.4",
            "numpy>=1.26",
        ],
        # python -m console: the analyst console and its outbox relay (not needed by the workers).
        "console": [
            "fastapi>=0.115",
            "uvicorn>=0.30",
            "jinja2>=3.1",
            "python-multipart>=0.0.18",
            "argon2-cffi>=23.1",
            "psycopg[binary]>=3.2",
            "psycopg-pool>=3.2",
            "confluent-kafka>=2.6",
        ],
        # python -m pipelines.evaluate_protocol draws its curves (not needed by the workers).
        "evaluate": [
            "matplotlib>=3.8",
        ],
    },
)
