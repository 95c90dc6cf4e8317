# syntax=docker/dockerfile:1
# StreamFlow's Airflow (k8s/platform/airflow/values.yaml): Airflow 3.3.2 with the providers of
# requirements/airflow.lock, the DAGs and plugins, and the pipeline in a virtualenv of its own
# (docs/airflow.md: the Beam provider and the pipeline need different Beam releases). The tasks
# run `python -m pipelines...` with STREAMFLOW_PIPELINE_PYTHON=/opt/streamflow/venv/bin/python
# from /opt/streamflow/src, the repository layout streamflow_tasks.py expects. Build from the
# repository root:
#   docker build -f k8s/images/airflow.Dockerfile -t registry.example.com/streamflow/airflow:0.1.0 .
# (Not built by CI: the development machines and CI reach no container registry.)
FROM apache/airflow:3.3.2-python3.11

USER root
WORKDIR /opt/streamflow/src
COPY requirements/airflow.lock requirements/constraints.txt requirements/
COPY setup.py pyproject.toml ./
COPY pipelines pipelines/
COPY transforms transforms/
COPY ml ml/
COPY console console/
COPY sql sql/
COPY airflow airflow/
RUN chown -R airflow:0 /opt/streamflow
USER airflow
# Airflow's side, pinned by its lock; then the pipeline's, pinned like CI, in its own venv.
RUN pip install --no-cache-dir --no-deps -r requirements/airflow.lock \
    && python -m venv /opt/streamflow/venv \
    && /opt/streamflow/venv/bin/pip install --no-cache-dir \
        --constraint requirements/constraints.txt ".[ml,kafka,postgres]"
ENV STREAMFLOW_PIPELINE_PYTHON=/opt/streamflow/venv/bin/python
