# syntax=docker/dockerfile:1
# The analyst console and its relay (k8s/base/console.yaml): python -m console serve | relay.
# Build from the repository root:
#   docker build -f k8s/images/console.Dockerfile -t registry.example.com/streamflow/console:0.1.0 .
# (Not built by CI: the development machines and CI reach no container registry.) The model
# libraries (ml extra) let the console explain an alert on demand with a mounted model
# (STREAMFLOW_CONSOLE_MODEL).
FROM python:3.11-slim

WORKDIR /opt/streamflow/src
COPY setup.py pyproject.toml ./
COPY requirements/constraints.txt requirements/
COPY pipelines pipelines/
COPY transforms transforms/
COPY ml ml/
COPY console console/
COPY sql sql/
# The /monitoring page draws the same dashboards as Grafana (STREAMFLOW_DASHBOARDS_DIR).
COPY k8s/monitoring/dashboards /opt/streamflow/dashboards/
RUN pip install --no-cache-dir --constraint requirements/constraints.txt ".[console,ml]" \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp streamflow

# The pods run as uid 10001 with a read-only root filesystem and an emptyDir on /tmp.
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 STREAMFLOW_DASHBOARDS_DIR=/opt/streamflow/dashboards
USER 10001:10001
EXPOSE 58090
ENTRYPOINT ["python", "-m", "console"]
CMD ["serve", "--host", "0.0.0.0", "--port", "58090"]
