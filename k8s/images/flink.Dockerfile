# syntax=docker/dockerfile:1
# The image of the FlinkDeployment: Flink 1.19 with the fraud pipeline's Beam jar in
# /opt/flink/usrlib (job.jarURI). Build from the repository root, after the worker image:
#   docker build -f k8s/images/flink.Dockerfile \
#     --build-arg WORKER_IMAGE=registry.example.com/streamflow/worker:0.1.0 \
#     --secret id=aws,src=$HOME/.aws/credentials \
#     -t registry.example.com/streamflow/flink:0.1.0 .
# (Not built by CI: the development machines and CI reach no container registry.)
ARG WORKER_IMAGE=registry.example.com/streamflow/worker:0.1.0
ARG FLINK_IMAGE=flink:1.19.3-java17

# Stage 1: construct the pipeline with the options of k8s/config/fraud-pipeline.args. Beam's
# FlinkRunner with --output_executable_path does not run it: its job server writes the pipeline
# (rules, model and blacklist inside), the options and the staged artifacts into one jar whose
# Main-Class is org.apache.beam.runners.flink.FlinkPipelineRunner.
FROM ${WORKER_IMAGE} AS pipeline-jar
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jdk-headless \
    && rm -rf /var/lib/apt/lists/*
# The job server must be the self-contained (shaded) job-server jar: the jar creator copies the
# one jar that holds FlinkPipelineRunner, so a thin jar with a Class-Path manifest would give a
# pipeline jar without Beam's dependencies. 2.62.0: the one Beam release of the SDK, the worker
# image and the job server (README, "A supported runner pair").
ARG JOB_SERVER_JAR=https://repo1.maven.org/maven2/org/apache/beam/beam-runners-flink-1.19-job-server/2.62.0/beam-runners-flink-1.19-job-server-2.62.0.jar
ADD ${JOB_SERVER_JAR} /build/job-server.jar
# Beam's Kafka IO (docs/kafka.md): the shaded expansion service expands ReadFromKafka and
# WriteToKafka during the build and, in /opt/flink/usrlib, puts KafkaIO on the job's class path
# for the Kafka read that Flink runs natively; the Java SDK harness (with jamm, which it needs
# at run time) runs the other Java steps in an EXTERNAL environment: the java-worker-pool
# sidecar of each TaskManager pod (k8s/base/flinkdeployment.yaml), which runs this image's
# java-harness command with --pool_port (scripts/kafka/JavaHarnessBoot.java). Every Beam part
# is 2.62.0.
ARG MAVEN=https://repo1.maven.org/maven2
ADD ${MAVEN}/org/apache/beam/beam-sdks-java-io-expansion-service/2.62.0/beam-sdks-java-io-expansion-service-2.62.0.jar /build/java/kafka-expansion-service.jar
ADD ${MAVEN}/org/apache/beam/beam-sdks-java-harness/2.62.0/beam-sdks-java-harness-2.62.0.jar /build/java/beam-sdks-java-harness.jar
ADD ${MAVEN}/com/github/jbellis/jamm/0.4.0/jamm-0.4.0.jar /build/java/jamm.jar
COPY scripts/kafka/JavaHarnessBoot.java k8s/images/java-harness /build/java/
RUN javac -d /build/java/boot -cp '/build/java/*' /build/java/JavaHarnessBoot.java
COPY k8s/config/rules.yaml k8s/config/fraud-pipeline.args /build/
# The model and the blacklist (on object storage) are read here, with read-only credentials
# passed as a build secret (an AWS credentials file), never as a build argument or in a layer.
RUN --mount=type=secret,id=aws,required=true \
    (java -cp /build/java/kafka-expansion-service.jar \
        org.apache.beam.sdk.expansion.service.ExpansionService 8097 \
        --experiments=use_deprecated_read \
        --defaultEnvironmentType=EXTERNAL --defaultEnvironmentConfig=localhost:58098 &) \
    && for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/8097) 2>/dev/null && break; sleep 1; done \
    && AWS_SHARED_CREDENTIALS_FILE=/run/secrets/aws \
    python /opt/streamflow/bin/build_pipeline_jar.py /build/fraud-pipeline.args \
        --flink_job_server_jar=/build/job-server.jar

# Stage 2: Flink itself, with the jar where the FlinkDeployment's jarURI points.
FROM ${FLINK_IMAGE}
COPY --from=pipeline-jar --chown=flink:flink /build/fraud-pipeline.jar /opt/flink/usrlib/fraud-pipeline.jar
COPY --from=pipeline-jar --chown=flink:flink /build/java/kafka-expansion-service.jar /opt/flink/usrlib/kafka-expansion-service.jar
COPY --from=pipeline-jar --chown=flink:flink /build/java/beam-sdks-java-harness.jar /build/java/jamm.jar /opt/streamflow/java/
COPY --from=pipeline-jar --chown=flink:flink /build/java/boot /opt/streamflow/java/boot
COPY --from=pipeline-jar --chown=flink:flink --chmod=0755 /build/java/java-harness /opt/streamflow/java-harness
USER flink
