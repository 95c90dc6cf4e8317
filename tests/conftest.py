"""Settings every test starts from."""

from __future__ import annotations

import pytest

from pipelines.warehouse.options import DSN_VARIABLE


@pytest.fixture(autouse=True)
def _no_warehouse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's STREAMFLOW_PG_DSN would send every pipeline test's rows to their warehouse.
    monkeypatch.delenv(DSN_VARIABLE, raising=False)
