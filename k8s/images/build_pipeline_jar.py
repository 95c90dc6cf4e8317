"""Build the fraud pipeline's Flink jar: ``build_pipeline_jar.py ARGS_FILE [more options]``.

Runs at image build time (``flink.Dockerfile``). With ``--output_executable_path``, Beam's
FlinkRunner does not execute the pipeline: its job server writes the pipeline, its options and
its staged artifacts into one jar that Flink runs with Beam's ``FlinkPipelineRunner`` as the
entry class. The rules and the anomaly model are read here and travel inside that jar.

Only the graph is built, not ``pipelines.fraud.run``: that also clears the output folder and
reads the run's summary afterwards, neither of which belongs to a build. And where a run scores
with rules only when its model is unusable, a build fails: a production image must not ship
without the model it names.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from ml.artifact import ArtifactFiles
from pipelines.fraud import build_pipeline, read_model
from pipelines.options import FraudOptions
from transforms.domain.config import load_rules


class ModelUnusableError(RuntimeError):
    pass


def read_args(path: str | Path) -> list[str]:
    """The options of an args file: one per line, blank lines and ``#`` comments skipped."""
    lines = Path(path).read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def verified_model(location: str) -> tuple[ArtifactFiles, str]:
    """The model at ``location`` and its version, verified as the workers will; else an error.

    The bytes verified here are the bytes the pipeline carries: they are read only once."""
    from ml.artifact import ArtifactError, load_artifact

    files = read_model(location)
    if files is None:
        raise ModelUnusableError(f"cannot read the anomaly model at {location}")
    try:
        return files, load_artifact(files).model_version
    except ArtifactError as error:
        raise ModelUnusableError(str(error)) from None


def construct(argv: Sequence[str]) -> beam.Pipeline:
    """The fraud pipeline's graph for these options, not yet run."""
    options = PipelineOptions(list(argv))
    fraud = options.view_as(FraudOptions)
    model = None
    if fraud.model:
        model, version = verified_model(fraud.model)
        print(f"anomaly model {version} from {fraud.model}", file=sys.stderr)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, fraud, load_rules(fraud.rules), model)
    return pipeline


def main(argv: Sequence[str]) -> None:
    args_file, *extra = argv
    try:
        pipeline = construct([*read_args(args_file), *extra])
    except ModelUnusableError as error:
        sys.exit(f"build_pipeline_jar: {error}")
    pipeline.run().wait_until_finish()


if __name__ == "__main__":
    main(sys.argv[1:])
