"""``/monitoring`` through HTTP: the Grafana dashboards of k8s/monitoring/dashboards/ drawn by
the console from a real Prometheus (backfilled with known series: tests/console/
prometheus_server.py; and the project's own, scripts/prometheus.sh) and a real warehouse.
Supervisors only; a source that fails is said in its panel, never a 500; everything escaped."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from console import panel_sql
from console.monitoring import Window, _time_series, expanded
from console.prometheus import PrometheusError, query, query_range, shown
from console.settings import Settings
from console.web import CONTENT_SECURITY_POLICY, create_app
from console.web_paths import DASHBOARDS
from tests.console.browser import free_port
from tests.console.conftest import Account
from tests.console.prometheus_server import DECIDED, ESCALATED, OPEN, backfilled_prometheus
from tests.console.seed import seed_store_minutes
from tests.console.test_pages import logged_in
from tests.services import service_script

pytestmark = pytest.mark.prometheus
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with backfilled_prometheus(tmp_path_factory.mktemp("prometheus")) as url:
        yield url


@pytest.fixture(scope="module")
def store_minutes(warehouse_dsn: str) -> None:
    """An hour of sales of five stores up to now, one store's id hostile markup."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as connection:
        found = connection.execute("SELECT to_regclass('silver.store_minute_metrics')").fetchone()
        if not found or found[0] is None:
            pytest.skip("silver.store_minute_metrics does not exist yet (migration V018)")
    seed_store_minutes(warehouse_dsn, ("store-0042", "store-0107", "store-0311", XSS, "s-9"))


@contextmanager
def console(console_dsn: str, **settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(dsn=console_dsn, **settings))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def monitored(
    console_dsn: str, accounts: dict[str, Account], prometheus_url: str
) -> Iterator[TestClient]:
    with console(console_dsn, prometheus_url=prometheus_url) as test_client:
        yield test_client


def panels(uid: str) -> list[dict[str, Any]]:
    document = json.loads((DASHBOARDS / f"{uid.removeprefix('streamflow-')}.json").read_text())
    return [panel for panel in document["panels"] if panel["type"] != "row"]


def prometheus_panels(uid: str) -> list[dict[str, Any]]:
    return [panel for panel in panels(uid) if panel["datasource"]["type"] == "prometheus"]


def panel_errors(html: str) -> list[str]:
    return re.findall(r'<p class="panel-error">(.*?)</p>', html)


def figure_of(html: str, title: str) -> str:
    """The figure of the panel titled ``title``."""
    found = re.search(
        rf'<figure class="panel[^"]*"[^>]*>\s*<figcaption class="title">{re.escape(escape(title))}'
        r"</figcaption>(.*?)</figure>",
        html,
        re.S,
    )
    assert found, f"no panel {title!r}"
    return found.group(1)


def test_only_supervisors_read_the_monitoring_page(monitored: TestClient) -> None:
    monitored.cookies.clear()
    assert monitored.get("/monitoring", follow_redirects=False).status_code == 303
    for name in ("vera", "ana"):
        logged_in(monitored, name)
        refused = monitored.get("/monitoring")
        assert refused.status_code == 403
        assert 'id="monitoring-link"' not in monitored.get("/queue").text
    logged_in(monitored, "sofia")
    assert monitored.get("/monitoring").status_code == 200
    assert 'id="monitoring-link"' in monitored.get("/queue").text


def test_the_operations_dashboard_is_drawn_from_prometheus(monitored: TestClient) -> None:
    logged_in(monitored, "sofia")
    page = monitored.get("/monitoring?dashboard=streamflow-operations")
    assert page.status_code == 200
    assert panel_errors(page.text) == []
    lines = [panel for panel in panels("streamflow-operations") if panel["type"] == "timeseries"]
    assert page.text.count("<polyline") >= len(lines)
    assert page.text.count("nothing to show yet") == 0
    assert "read streamflow_fraud" in page.text  # the legend, from the job_name label
    assert "transactions.raw" in page.text
    assert ">1</span>" in figure_of(page.text, "Restarts, last hour")
    assert 'class="current">last 1h' in page.text  # the dashboard's own range: now-1h


def test_the_fraud_dashboard_shows_the_analysts_numbers(monitored: TestClient) -> None:
    logged_in(monitored, "sofia")
    page = monitored.get("/monitoring?dashboard=streamflow-fraud&range=6h").text
    assert panel_errors(page) == []
    precision = 100 * DECIDED["fraud"] / (DECIDED["fraud"] + DECIDED["legitimate"])
    assert f">{precision:.0f}%</span>" in figure_of(page, "Precision of decided alerts")
    waiting = figure_of(page, "Alerts waiting for an analyst")
    assert f'>{OPEN}</span> <span class="name">open' in waiting
    assert f'>{ESCALATED}</span> <span class="name">escalated' in waiting
    parts = figure_of(page, "Each rule's part in the alerts, last 5 minutes")
    assert all(rule in parts for rule in ("fr_001", "fr_006", "fr_008"))


def test_the_retail_dashboard_is_drawn_from_the_warehouse(
    monitored: TestClient, store_minutes: None
) -> None:
    logged_in(monitored, "sofia")
    page = monitored.get("/monitoring?dashboard=streamflow-retail&range=1h").text
    assert panel_errors(page) == []
    top = figure_of(page, "Top stores")
    assert top.count("<tr>") == 1 + 5  # the header and the five stores
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in top
    assert XSS not in page
    assert "store-0311" in figure_of(page, "Sales over time, ten largest stores")
    assert "pix" in figure_of(page, "Sales by payment method")
    assert ">5</span>" in figure_of(page, "Sales in the range")  # stores


def test_an_unreachable_prometheus_is_said_in_each_panel(
    console_dsn: str, accounts: dict[str, Account], store_minutes: None
) -> None:
    with console(console_dsn, prometheus_url=f"http://127.0.0.1:{free_port()}") as client:
        logged_in(client, "sofia")
        for uid in ("streamflow-operations", "streamflow-fraud", "streamflow-retail"):
            page = client.get(f"/monitoring?dashboard={uid}")
            assert page.status_code == 200
            errors = panel_errors(page.text)
            targets = sum(len(panel["targets"]) for panel in prometheus_panels(uid))
            assert len(errors) == targets, uid
            assert all("is unreachable" in error for error in errors), errors


def test_a_prometheus_that_does_not_answer_times_out(
    console_dsn: str, accounts: dict[str, Account]
) -> None:
    with (
        socket.socket() as silent,
        console(console_dsn, prometheus_url=f"http://127.0.0.1:{_listening(silent)}") as client,
    ):
        logged_in(client, "sofia")
        started = time.monotonic()
        page = client.get("/monitoring?dashboard=streamflow-fraud")
        assert page.status_code == 200
        assert time.monotonic() - started < 15  # the queries wait side by side
        errors = panel_errors(page.text)
        assert errors
        assert all("timed out" in error for error in errors), errors


def _listening(sock: socket.socket) -> int:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return int(sock.getsockname()[1])


def test_grafanas_variables_are_filled_and_others_refused() -> None:
    window = Window.ending(10_000, 3600)  # a step of 30 s
    assert expanded("rate(x[$__rate_interval]) / $__range", window) == "rate(x[60s]) / 3600s"
    kept = 'label_replace(x, "a", "$1", "b", "(.*)")'  # a regular expression's group stays
    assert expanded(kept, window) == kept
    for unfilled in ('x{job="$job"}', 'x{job="${job}"}'):
        with pytest.raises(PrometheusError, match="a variable this page cannot fill"):
            expanded(unfilled, window)
    with pytest.raises(PrometheusError, match="not an http"):
        query("file:///etc", "up", 0.0)


def write_dashboard(directory: Path, name: str, document: dict[str, Any]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(document))


def hostile_dashboard() -> dict[str, Any]:
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

    def panel(title: str, expr: str, legend: str = "") -> dict[str, Any]:
        target = {"refId": "A", "expr": expr, "legendFormat": legend, "datasource": source}
        return {"type": "timeseries", "title": title, "datasource": source, "targets": [target]}

    return {
        "uid": "hostile",
        "title": XSS,
        "time": {"from": "now-1h", "to": "now"},
        "panels": [
            panel(f"title {XSS}", "streamflow_alerts_open", f"{XSS} {{{{__name__}}}}"),
            panel("refused", "sum(streamflow_alerts_open"),
            panel("a variable", 'up{job="$job"}'),
        ],
    }


def test_what_a_dashboard_file_says_is_shown_as_text(
    console_dsn: str, accounts: dict[str, Account], prometheus_url: str, tmp_path: Path
) -> None:
    write_dashboard(tmp_path, "a", hostile_dashboard())
    (tmp_path / "b.json").write_text("{not json")
    with console(console_dsn, prometheus_url=prometheus_url, dashboards_dir=str(tmp_path)) as c:
        logged_in(c, "sofia")
        page = c.get("/monitoring").text
    assert XSS not in page
    assert "&lt;script&gt;" in page
    assert "<script>alert" not in page
    errors = panel_errors(page)
    assert any("parse error" in error for error in errors), errors  # Prometheus' own words
    assert any("$job: a variable this page cannot fill" in error for error in errors), errors
    assert "b.json: JSONDecodeError" in page  # the broken file, said; the others shown


def test_parameters_that_do_not_parse_are_refused(
    monitored: TestClient, console_dsn: str, tmp_path: Path
) -> None:
    logged_in(monitored, "sofia")
    assert monitored.get("/monitoring?range=2y").status_code == 422
    assert monitored.get("/monitoring?range=" + "1" * 50).status_code == 422
    assert monitored.get("/monitoring?dashboard=nope").status_code == 404
    with console(console_dsn, dashboards_dir=str(tmp_path / "none")) as client:
        logged_in(client, "sofia")
        page = client.get("/monitoring")
    assert page.status_code == 200
    assert 'id="no-dashboards"' in page.text


def test_the_page_keeps_the_security_headers(monitored: TestClient) -> None:
    logged_in(monitored, "sofia")
    page = monitored.get("/monitoring?dashboard=streamflow-operations")
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["Cache-Control"] == "no-store"
    assert "style=" not in page.text
    assert "<script>" not in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere


def test_the_project_prometheus_accepts_every_dashboard_query(
    console_dsn: str, accounts: dict[str, Account], store_minutes: None
) -> None:
    """Each expression as the console sends it, to scripts/prometheus.sh's Prometheus: refused
    by none (without a live job most panels have nothing to show, which is no error)."""
    service_script("prometheus", "start", timeout=900)
    url = service_script("prometheus", "url")
    with console(console_dsn, prometheus_url=url) as client:
        logged_in(client, "sofia")
        for uid in ("streamflow-operations", "streamflow-fraud", "streamflow-retail"):
            page = client.get(f"/monitoring?dashboard={uid}")
            assert page.status_code == 200
            assert panel_errors(page.text) == [], uid


@contextmanager
def fake_prometheus(answers: dict[str, Any], seen: list[str]) -> Iterator[str]:
    """An HTTP server answering each API endpoint (``query``, ``query_range``) with the JSON
    given; the Authorization header of every request lands in ``seen``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps(answers.get(self.path.rsplit("/", 1)[-1], {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def not_http() -> Iterator[str]:
    """A port that answers as SSH does: http.client's BadStatusLine, not an OSError."""
    listener = socket.socket()
    port = _listening(listener)
    stop = threading.Event()

    def banner(accepted: socket.socket) -> None:
        with accepted:
            accepted.settimeout(0.3)
            try:  # the whole request first, so that closing resets nothing
                while accepted.recv(65536):
                    pass
            except TimeoutError:
                pass
            accepted.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            accepted.shutdown(socket.SHUT_WR)

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=banner, args=(accepted,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def _success(data: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": data}


MALFORMED = {
    "a scalar without its result": {
        "query": _success({"resultType": "scalar"}),
        "query_range": _success({"resultType": "matrix", "result": [{"metric": {}}]}),
    },
    "result items that are not objects": {
        "query": _success({"resultType": "vector", "result": [1, "x", None]}),
        "query_range": _success({"resultType": "matrix", "result": [[1, 2]]}),
    },
    "series that are not what they say": {
        "query": _success({"resultType": "vector", "result": [{"metric": [1], "value": 3}]}),
        "query_range": _success({"resultType": "matrix", "result": [{"values": [{"a": 1}]}]}),
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_answer_prometheus_would_not_give_is_said_in_each_panel(
    console_dsn: str, accounts: dict[str, Account], case: str
) -> None:
    with fake_prometheus(MALFORMED[case], []) as url:
        for call in (lambda: query(url, "up", 0.0), lambda: query_range(url, "up", 0, 60, 15)):
            with pytest.raises(PrometheusError, match="Prometheus answered"):
                call()
        with console(console_dsn, prometheus_url=url) as client:
            logged_in(client, "sofia")
            for uid in ("streamflow-operations", "streamflow-fraud"):
                page = client.get(f"/monitoring?dashboard={uid}")
                assert page.status_code == 200, uid
                errors = panel_errors(page.text)
                targets = sum(len(panel["targets"]) for panel in prometheus_panels(uid))
                assert len(errors) == targets, (uid, errors)


def test_a_port_that_is_not_http_is_said_in_each_panel(
    console_dsn: str, accounts: dict[str, Account]
) -> None:
    with not_http() as url, console(console_dsn, prometheus_url=url) as client:
        logged_in(client, "sofia")
        page = client.get("/monitoring?dashboard=streamflow-fraud")
        assert page.status_code == 200
        errors = panel_errors(page.text)
        targets = sum(len(panel["targets"]) for panel in prometheus_panels("streamflow-fraud"))
        assert len(errors) == targets
        assert all("did not answer as an HTTP server does" in error for error in errors), errors


def test_a_password_in_the_prometheus_url_is_sent_never_shown(
    console_dsn: str, accounts: dict[str, Account]
) -> None:
    seen: list[str] = []
    answers = {
        "query": _success({"resultType": "vector", "result": []}),
        "query_range": _success({"resultType": "matrix", "result": []}),
    }
    with fake_prometheus(answers, seen) as url:
        with_password = url.replace("//", "//watcher:s%40cret-pass@")
        with console(console_dsn, prometheus_url=with_password) as client:
            logged_in(client, "sofia")
            page = client.get("/monitoring?dashboard=streamflow-fraud")
    assert page.status_code == 200
    assert panel_errors(page.text) == []
    assert f"Prometheus at {url}," in page.text
    assert "cret-pass" not in page.text
    assert "watcher" not in page.text
    assert seen
    assert set(seen) == {"Basic " + base64.b64encode(b"watcher:s@cret-pass").decode()}
    # Unreachable, or not an HTTP server: the message says where without the password.
    for where in (f"http://watcher:s3cret@127.0.0.1:{free_port()}", "http://watcher:s3cret@[::1"):
        with console(console_dsn, prometheus_url=where) as client:
            logged_in(client, "sofia")
            page = client.get("/monitoring?dashboard=streamflow-fraud")
        assert page.status_code == 200
        assert panel_errors(page.text)
        assert "s3cret" not in page.text
        assert "watcher" not in page.text
    assert shown("https://a:b@host:9090/prom") == "https://host:9090/prom"
    assert shown("http://host:9090") == "http://host:9090"


def sql_dashboard(queries: dict[str, str]) -> dict[str, Any]:
    source = {"type": "grafana-postgresql-datasource", "uid": "${DS_WAREHOUSE}"}
    return {
        "uid": "sql",
        "title": "SQL",
        "time": {"from": "now-7d", "to": "now"},
        "panels": [
            {
                "type": "timeseries",
                "title": title,
                "datasource": source,
                "targets": [{"refId": "A", "rawSql": sql, "format": "time_series"}],
            }
            for title, sql in queries.items()
        ],
    }


def test_time_series_of_what_is_not_a_time_or_a_number_are_said_in_the_panel(
    console_dsn: str, accounts: dict[str, Account], tmp_path: Path
) -> None:
    minutes = "generate_series($__timeFrom(), $__timeTo(), interval '1 minute') AS t"
    queries = {
        "a date": "SELECT current_date AS time, 1 AS value",
        "text": "SELECT now() AS time, 'x' AS value",
        "grouped": f"SELECT $__timeGroupAlias(t, $__interval), count(*) AS n FROM {minutes} "
        "GROUP BY 1 ORDER BY 1",
        "by the minute": f"SELECT t AS time, 1 AS n FROM {minutes}",
    }
    write_dashboard(tmp_path, "sql", sql_dashboard(queries))
    with console(console_dsn, dashboards_dir=str(tmp_path)) as client:
        logged_in(client, "sofia")
        page = client.get("/monitoring?dashboard=sql&range=7d")
    assert page.status_code == 200
    assert panel_errors(figure_of(page.text, "a date")) == [
        "A: column time: a date, not a number or a time"
    ]
    assert panel_errors(figure_of(page.text, "text")) == [
        "A: column value: a str, not a number or a time"
    ]
    assert panel_errors(figure_of(page.text, "grouped")) == []  # a point per step: 121
    assert "<polyline" in figure_of(page.text, "grouped")
    assert panel_errors(figure_of(page.text, "by the minute")) == [
        f"A: more than {panel_sql.MAX_ROWS} rows: narrow the query"
    ]


def test_a_time_series_takes_times_and_numbers_only() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(now, 2), (60.0, None), (120, float("nan")), (180, float("inf"))]
    assert _time_series(["time", "v"], rows) == [("v", [(now.timestamp(), 2.0)])]
    for row in ((date(2026, 1, 1), 1), (now, "1"), ("now", 1), (now, date(2026, 1, 1))):
        with pytest.raises(panel_sql.PanelQueryError, match="not a number or a time"):
            _time_series(["time", "v"], [row])
