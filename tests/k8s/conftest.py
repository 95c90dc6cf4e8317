"""Fixtures of the manifest tests: the rendered objects and the operator's CRD validator."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.k8s.render import Manifest, render
from tests.k8s.schemas import SchemaUnavailableError, crd_validator, flinkdeployment_crd

FLINKDEPLOYMENT_VERSION = "v1beta1"


@pytest.fixture(scope="session")
def manifests() -> list[Manifest]:
    return render()


@pytest.fixture(scope="session")
def deployment(manifests: list[Manifest]) -> Manifest:
    (found,) = [doc for doc in manifests if doc["kind"] == "FlinkDeployment"]
    return found


@pytest.fixture(scope="session")
def flinkdeployment_validator() -> jsonschema.Draft202012Validator:
    try:
        crd: dict[str, Any] = flinkdeployment_crd()
    except SchemaUnavailableError as error:
        pytest.fail(str(error), pytrace=False)
    return crd_validator(crd, FLINKDEPLOYMENT_VERSION)
