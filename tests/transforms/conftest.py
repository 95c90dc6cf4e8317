"""Fixtures of the detector's tests: two trained models and one shuffled data set."""

from __future__ import annotations

import random

import pytest

from pipelines.synthetic.dataset import GeneratorConfig, generate_events
from pipelines.train_default import train_model
from tests.factories import raw_record


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two models trained on different histories: the job's own and the registered one."""
    folders = []
    for seed in (3, 4):
        folder = str(tmp_path_factory.mktemp(f"model{seed}"))
        train_model(folder, seed=seed, customers=150, days=10)
        folders.append(folder)
    return folders[0], folders[1]


@pytest.fixture(scope="session")
def records() -> list[tuple[str, bytes]]:
    dataset = generate_events(GeneratorConfig(seed=5, customers=40, days=20))
    shuffled = [raw_record(line, number) for number, line in enumerate(dataset.lines)]
    random.Random(5).shuffle(shuffled)
    return shuffled
