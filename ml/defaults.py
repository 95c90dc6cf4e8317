"""Where models live by default: no third-party import, so the pipeline's options can name it
without the ``ml`` extra installed."""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL_DIR"]

# The anomaly model runs use when none is given; ``python -m pipelines.train_default`` trains it.
DEFAULT_MODEL_DIR = "models/default"
