"""The notifier in Airflow's interpreter: with the warehouse unreachable (often why a task
failed), the webhook still receives the event and the notifier still reports the failure; the
webhook connection means what an Airflow HTTP connection means."""

from __future__ import annotations

import base64
import json

import pytest

from tests.airflow.dag_runs import airflow_python
from tests.airflow.webhook import recording_server, recording_webhook

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


SEND_THROUGH_EACH = """
import json
import os
import sys

import airflow  # puts the plugins folder on the import path
import streamflow_notify

outcomes = []
for connection in json.loads(sys.argv[1]):
    os.environ["AIRFLOW_CONN_STREAMFLOW_WEBHOOK"] = connection
    try:
        streamflow_notify.send("task_failed", "error", connection, dag_id="d")
    except Exception as error:
        outcomes.append(f"{type(error).__name__}: {error}")
    else:
        outcomes.append(None)
print(json.dumps({"outcomes": outcomes}))
"""


def test_the_webhook_connection_is_read_as_airflow_http_connections_are(warehouse: str) -> None:
    """``schema`` is the URL's scheme, the host may carry a path, ``extra`` holds headers and
    the ``endpoint`` path, ``login``/``password`` are basic auth: each reaches the right URL."""
    with recording_server() as (root, posted):
        port = int(root.rsplit(":", 1)[1])
        plain = {"conn_type": "http", "schema": "http", "host": "127.0.0.1", "port": port}
        connections = [
            json.dumps({**plain, "extra": {"endpoint": "hooks/a", "X-Team": "fraud"}}),
            json.dumps({**plain, "host": "127.0.0.1/hooks/b"}),
            json.dumps({"conn_type": "http", "schema": "https", "host": f"{root}/hooks/c"}),
            f"http://alert-bot:s3cret@127.0.0.1:{port}/http",  # URI form: the path is the schema
            f"http://127.0.0.1:{port}/hooks/secret-token",  # a path as schema: refused
        ]
        result = airflow_python(
            ["-c", SEND_THROUGH_EACH, json.dumps(connections)], warehouse, timeout=300
        )
    assert result["outcomes"][:4] == [None] * 4, result
    refused = result["outcomes"][4]
    assert refused.startswith("ValueError: the streamflow_webhook connection's schema must be")
    assert "secret-token" not in refused
    by_message = {p.document["message"]: p for p in posted}
    assert [by_message[c].path if c in by_message else None for c in connections] == [
        "/hooks/a",
        "/hooks/b",
        "/hooks/c",
        "/",
        None,
    ]
    assert by_message[connections[0]].headers["X-Team"] == "fraud"
    basic = base64.b64encode(b"alert-bot:s3cret").decode()
    assert by_message[connections[3]].headers["Authorization"] == f"Basic {basic}"
    assert "Authorization" not in by_message[connections[0]].headers
