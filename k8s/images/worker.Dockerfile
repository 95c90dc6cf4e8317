# syntax=docker/dockerfile:1
# The Beam Python SDK worker of the fraud pipeline: the beam-worker-pool sidecar of every Flink
# TaskManager (entrypoint /opt/apache/beam/boot, run with --worker_pool on port 50000), and the
# first stage of flink.Dockerfile, which builds the pipeline jar with it. Build from the
# repository root:
#   docker build -f k8s/images/worker.Dockerfile -t registry.example.com/streamflow/worker:0.1.0 .
# (Not built by CI: the development machines and CI reach no container registry.)
FROM apache/beam_python3.11_sdk:2.62.0

WORKDIR /opt/streamflow/src
COPY setup.py pyproject.toml ./
COPY requirements/constraints.txt requirements/
COPY pipelines pipelines/
COPY transforms transforms/
COPY ml ml/
# The console ships in the same package (setup.py); the workers never import it.
COPY console console/
# The warehouse SQL: setup.py ships it inside the package (pipelines.warehouse.sql).
COPY sql sql/
# The project with its model libraries, pinned like CI; Beam is the image's own 2.62.0 (the
# release of the Flink job server: README, "A supported runner pair"), and its aws extra adds
# boto3 for s3:// paths (inputs and outputs; model and blacklist at build). The kafka extra is
# for the JobManager's init container, which anchors the control topics.
RUN pip install --no-cache-dir --constraint requirements/constraints.txt \
        ".[ml,kafka]" "apache-beam[aws]==2.62.0" \
    && useradd --uid 9999 --user-group --no-create-home --home-dir /tmp streamflow
COPY k8s/images/build_pipeline_jar.py /opt/streamflow/bin/
# The options the pipeline jar is built with, for the init container that anchors the control
# topics before the job starts (k8s/base/flinkdeployment.yaml): the same file, in the same
# release.
COPY k8s/config/fraud-pipeline.args /opt/streamflow/config/

# The pods run as uid 9999 with a read-only root filesystem and an emptyDir on /tmp.
ENV HOME=/tmp
USER 9999:9999
