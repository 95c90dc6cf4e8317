"""The console at scale: 1M alerts and 10M transactions, then the analyst's requests.

    scripts/postgres.sh start
    python benchmarks/console.py [--alerts 1000000] [--transactions 10000000] [--requests 300]
        [--keep] > console.json

Seeds a scratch warehouse (migrated; ``--keep`` keeps it and names it, for a rerun with
``--reuse NAME``): ``--transactions`` in silver over about 58 days, every tenth an alert in
bronze, and the cases the intake opens for them. Then, through real HTTP against the console
served by ``python -m console serve --workers 2`` in processes of their own (as the two replicas
of k8s/base/console.yaml; the console's own database role, a pool of 8 connections each):

* ``queue``: ``GET /api/alerts`` pages: the first page of open alerts, a page deep into the
  queue (by its cursor), and filtered by store, rule and score;
* ``alert_page``: ``GET /alerts/{id}``, the HTML page with evidence, timeline, map, store risk
  and related alerts, for random alerts;
* ``verdict``: ``POST /api/alerts/{id}/verdict`` on random open alerts (case event, feedback
  and outbox row in one transaction);
* ``take_next``: 20 analysts (threads, each with its own token and HTTP client) taking alerts
  at once, ``--requests`` in all: the latency, and how many alerts were handed out twice
  (the aim: none).

Prints one JSON document: date, commit, sizes, seeding seconds, and per measure the request
count, p50 and p95 in milliseconds (the aim: p95 under 150 ms, take-next under 100 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.intake import intake  # noqa: E402
from console.settings import DSN_VARIABLE  # noqa: E402
from console.users import add_user, new_token  # noqa: E402
from pipelines.warehouse.migrate import migrate  # noqa: E402
from pipelines.warehouse.scratch import drop_database, project_server_dsn  # noqa: E402
from tests.console.browser import free_port  # noqa: E402

START = "2026-09-01T00:00:00Z"
ANALYSTS = 20
# As deployed: k8s/base/console.yaml runs two replicas, one process each.
WORKERS = 2
PASSWORD = "benchmark password 1"


def log(message: str) -> None:
    print(f"[console benchmark] {message}", file=sys.stderr, flush=True)


def seed(dsn: str, transactions: int, alerts_every: int) -> dict[str, float]:
    """Transactions in silver (every ``alerts_every``-th an alert in bronze), in chunks."""
    timings: dict[str, float] = {}
    chunk = 1_000_000
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "SELECT bronze.ensure_daily_partitions('bronze.fraud_alerts', %s::date, "
            "(%s::timestamptz + interval '0.5 second' * %s)::date)",
            (START, START, transactions),
        )
        began = time.perf_counter()
        for low in range(1, transactions + 1, chunk):
            high = min(low + chunk - 1, transactions)
            connection.execute(
                "INSERT INTO silver.clean_transactions (transaction_id, customer_id, store_id, "
                "amount, currency, payment_method, latitude, longitude, event_time, "
                "schema_version, fraud_score, rule_score, rules_triggered, is_alert, "
                "rules_version) SELECT 't' || g, 'c' || (g * 7919 %% 200000), "
                "'s' || (g * 104729 %% 1000), 10 + g %% 500, 'BRL', 'pix', "
                "-23.5 + (g %% 97) / 1000.0, -46.6 - (g %% 89) / 1000.0, "
                "%s::timestamptz + interval '0.5 second' * g, 2, "
                # Scores spread by a hash: independent of the rule and of time.
                "CASE WHEN g %% %s = 0 THEN 0.7 + ((hashtext(g::text) & 2147483647) %% 300) "
                "/ 1000.0 "
                "ELSE (g * 31 %% 600) / 1000.0 END, 0.5, "
                # Alerts by rule: FR-001 35%, FR-002 25%, FR-003 20%, FR-004 15%, FR-005 5%.
                "CASE WHEN g %% %s = 0 THEN ARRAY[(ARRAY['FR-001', 'FR-001', 'FR-001', "
                "'FR-001', 'FR-001', 'FR-001', 'FR-001', 'FR-002', 'FR-002', 'FR-002', "
                "'FR-002', 'FR-002', 'FR-003', 'FR-003', 'FR-003', 'FR-003', 'FR-004', "
                "'FR-004', 'FR-004', 'FR-005'])[1 + (g / %s) %% 20]] ELSE '{}' END, "
                "g %% %s = 0, 'r1' FROM generate_series(%s::bigint, %s::bigint) g",
                (START, alerts_every, alerts_every, alerts_every, alerts_every, low, high),
            )
            log(f"transactions {high:,}")
        timings["transactions_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        connection.execute(
            "INSERT INTO bronze.fraud_alerts (alert_id, transaction_id, customer_id, store_id, "
            "amount, currency, event_time, fraud_score, rule_score, ml_score, rules_triggered, "
            "rule_details, explanation, model_version, rules_version, detected_at) "
            "SELECT gen_random_uuid(), transaction_id, customer_id, store_id, amount, currency, "
            "event_time, fraud_score, rule_score, 0.6, rules_triggered, "
            "jsonb_build_object(rules_triggered[1], jsonb_build_object('score', 0.9, "
            "'amount', amount)), 'rules fired', 'm1', 'r1', event_time + interval '2 seconds' "
            "FROM silver.clean_transactions WHERE is_alert"
        )
        timings["alerts_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        while intake(connection):
            pass
        timings["intake_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        connection.execute("VACUUM ANALYZE")
        timings["vacuum_s"] = round(time.perf_counter() - began, 1)
    return timings


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
    }


def timed(requests: int, call: Callable[[int], httpx.Response]) -> dict[str, float]:
    samples = []
    for index in range(requests):
        began = time.perf_counter()
        answer = call(index)
        samples.append(time.perf_counter() - began)
        answer.raise_for_status()
    return percentiles(samples)


@contextmanager
def scratch(server: str, reuse: str | None, keep: bool) -> Iterator[tuple[str, bool]]:
    """The benchmark's database: reused as named, or created (and dropped unless kept)."""
    if reuse:
        dsn = make_conninfo(server, dbname=reuse)
        migrate(dsn)  # a database kept by an earlier release of the benchmark
        yield dsn, False
        return
    name = f"streamflow_console_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = make_conninfo(server, dbname=name)
        migrate(dsn)
        yield dsn, True
    finally:
        if keep:
            log(f"kept database {name}: rerun with --reuse {name}")
        else:
            drop_database(server, name)


@contextmanager
def serving(console_dsn: str) -> Iterator[str]:
    """``python -m console serve`` in a process of its own (as in production: the clients'
    threads here must not share its interpreter lock); its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", str(port), "--workers", str(WORKERS)],
        cwd=ROOT,
        env={**os.environ, DSN_VARIABLE: console_dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the console did not start")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(dsn: str, requests: int) -> dict[str, Any]:
    console_dsn = make_conninfo(dsn, user="streamflow_console")
    suffix = uuid.uuid4().hex[:6]
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        names = [f"bench{suffix}-{i}" for i in range(ANALYSTS)]
        tokens = []
        for name in names:
            add_user(connection, name, "supervisor", PASSWORD)
            tokens.append(new_token(connection, name))
        ids = [
            str(row[0])
            for row in connection.execute(
                "SELECT alert_id FROM console.alert_cases TABLESAMPLE SYSTEM (1) "
                "WHERE status = 'open' LIMIT 5000"
            )
        ]
    rng = random.Random(7)
    rng.shuffle(ids)
    results: dict[str, Any] = {}
    with serving(console_dsn) as base:
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            deep = client.get("/api/alerts", params={"limit": 50})
            cursor = deep.json()["next"]
            for _ in range(200):  # 10,000 alerts into the queue
                cursor = client.get("/api/alerts", params={"limit": 50, "cursor": cursor}).json()[
                    "next"
                ]
            results["queue_first_page"] = timed(
                requests, lambda _: client.get("/api/alerts", params={"limit": 50})
            )
            results["queue_deep_page"] = timed(
                requests,
                lambda _: client.get("/api/alerts", params={"limit": 50, "cursor": cursor}),
            )
            filters = [
                {"store_id": "s17"},
                {"rule": "FR-003"},
                {"rule": "FR-005"},
                {"min_score": 0.95},
                {"customer_id": "c4242", "status": "all"},
            ]
            results["queue_filtered"] = timed(
                requests,
                lambda i: client.get(
                    "/api/alerts", params={"limit": 50, **filters[i % len(filters)]}
                ),
            )
            login = client.get("/login")
            csrf = login.text.split('name="csrf_token" value="')[1].split('"')[0]
            client.post(
                "/login",
                data={"name": names[0], "password": PASSWORD, "csrf_token": csrf},
                headers={},
            )
            results["alert_page"] = timed(requests, lambda i: client.get(f"/alerts/{ids[i]}"))
            verdicts = ids[requests : 2 * requests]
            results["verdict"] = timed(
                len(verdicts),
                lambda i: client.post(
                    f"/api/alerts/{verdicts[i]}/verdict",
                    json={"label": "fraud" if i % 3 else "genuine", "note": "benchmark"},
                ),
            )
        results["take_next"] = take_next_race(base, tokens, requests)
    return results


def take_next_race(base: str, tokens: list[str], requests: int) -> dict[str, Any]:
    per_analyst = max(1, requests // len(tokens))
    samples: list[float] = []
    taken: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(len(tokens))

    def analyst(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            client.get("/api/alerts", params={"limit": 1})  # connected before the race
            gate.wait()
            for _ in range(per_analyst):
                began = time.perf_counter()
                answer = client.post("/api/alerts/take-next")
                elapsed = time.perf_counter() - began
                answer.raise_for_status()
                with lock:
                    samples.append(elapsed)
                    taken.append(answer.json()["alert_id"])

    threads = [threading.Thread(target=analyst, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    twice = sum(n - 1 for n in Counter(taken).values() if n > 1)
    return {**percentiles(samples), "analysts": len(tokens), "handed_out_twice": twice}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", default=None, help="a database kept by --keep")
    args = parser.parse_args()
    alerts_every = max(1, args.transactions // args.alerts)
    server = project_server_dsn()
    began = time.perf_counter()
    with scratch(server, args.reuse, args.keep) as (dsn, fresh):
        seeding = seed(dsn, args.transactions, alerts_every) if fresh else {}
        with psycopg.connect(dsn) as connection:
            sizes = connection.execute(
                "SELECT (SELECT count(*) FROM silver.clean_transactions), "
                "(SELECT count(*) FROM bronze.fraud_alerts), "
                "(SELECT count(*) FROM console.alert_cases)"
            ).fetchone()
        assert sizes is not None
        log(f"seeded {sizes}; measuring")
        results = measure(dsn, args.requests)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": commit,
                "transactions": sizes[0],
                "alerts": sizes[1],
                "cases": sizes[2],
                "seeding": seeding,
                "total_s": round(time.perf_counter() - began, 1),
                **results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
