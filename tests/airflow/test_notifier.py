"""The notifier in Airflow's interpreter: with the warehouse unreachable (often why a task
failed), the webhook still receives the event and the notifier still reports the failure."""

from __future__ import annotations

import json

import pytest

from tests.airflow.dag_runs import airflow_python
from tests.airflow.webhook import recording_webhook

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SEND = """
import json

import airflow  # puts the plugins folder on the import path
import streamflow_notify

try:
    streamflow_notify.send("task_failed", "error", "boom", {"try_number": 2}, dag_id="d")
except Exception as error:
    print(json.dumps({"raised": type(error).__name__}))
else:
    print(json.dumps({"raised": None}))
"""


def test_an_unreachable_warehouse_does_not_silence_the_webhook(airflow_started: None) -> None:
    closed_port = "host=127.0.0.1 port=1 user=u dbname=d"
    with recording_webhook() as (url, posted):
        webhook = json.dumps({"conn_type": "http", "host": url})
        result = airflow_python(
            ["-c", SEND], closed_port, {"AIRFLOW_CONN_STREAMFLOW_WEBHOOK": webhook}
        )
    assert result["raised"] is not None  # the lost row is reported, not swallowed
    [event] = posted
    assert (event["kind"], event["message"], event["details"]) == (
        "task_failed",
        "boom",
        {"try_number": 2},
    )
