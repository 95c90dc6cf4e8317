"""Build the fraud pipeline's Flink jar: ``build_pipeline_jar.py ARGS_FILE [more options]``.

Runs at image build time (``flink.Dockerfile``). With ``--output_executable_path``, Beam's
FlinkRunner does not execute the pipeline: its job server writes the pipeline, its options and
its staged artifacts into one jar that Flink runs with Beam's ``FlinkPipelineRunner`` as the
entry class. The rules and the anomaly model are read here and travel inside that jar.

Only the graph is built, not ``pipelines.fraud.run``: a run also checks its inputs, clears the
output folder and reads the run's summary afterwards, none of which belongs to a build. The
reference data is read and checked as a run reads it (``pipelines.launcher``): a model named
by ``--model`` that is unusable fails the build, so a production image never ships without the
model it names.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

# The args file's reader is the package's: the JobManager's init container reads the same file
# with it (python -m pipelines.anchor_controls --args_file, k8s/base/flinkdeployment.yaml).
from pipelines.anchor_controls import read_args
from pipelines.fraud import build_pipeline
from pipelines.launcher import read_reference_data
from pipelines.options import FraudOptions, LaunchError


def construct(argv: Sequence[str]) -> beam.Pipeline:
    """The fraud pipeline's graph for these options, not yet run; :class:`LaunchError` if
    the rules, blacklist or model cannot be used."""
    options = PipelineOptions(list(argv))
    fraud = options.view_as(FraudOptions)
    reference = read_reference_data(fraud)
    if reference.model_version:
        print(f"anomaly model {reference.model_version} from {fraud.model}", file=sys.stderr)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, fraud, reference)
    return pipeline


def main(argv: Sequence[str]) -> None:
    args_file, *extra = argv
    try:
        pipeline = construct([*read_args(args_file), *extra])
    except LaunchError as error:
        sys.exit(f"build_pipeline_jar: {error}")
    pipeline.run().wait_until_finish()


if __name__ == "__main__":
    main(sys.argv[1:])
