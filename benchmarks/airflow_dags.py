"""What Airflow costs: the DAG folder's parse time, each DAG's ``dag.test()`` time, and a
backfill's events/s through Airflow's Beam operator against the same run started directly.

    python benchmarks/airflow_dags.py [--customers 2000] [--days 30] [--backfill_days 7]

Needs the project's PostgreSQL and Airflow environment (``scripts/airflow.sh start``). Generates
a per-day archive, then into two scratch warehouses: ``python -m pipelines.fraud`` with the
backfill plan's options (warm-up days, then the range), and the fraud_backfill DAG over the
same range (plan, Beam operator, gold refresh). Events/s counts every event read, the warm-up's
included. Then times ``dag.test()`` of every other DAG on the backfilled warehouse. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from pipelines.synthetic import generate_dataset
from pipelines.synthetic.archive import archive_file
from pipelines.warehouse.scratch import project_server_dsn, scratch_database

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(ROOT / "scripts" / "airflow.sh")
DEFAULT_MODEL = ROOT / "models" / "default"


def connection_uri(dsn: str) -> str:
    parts = conninfo_to_dict(dsn)
    return f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def in_airflow(arguments: list[str], dsn: str) -> dict[str, Any]:
    done = subprocess.run(
        [AIRFLOW, "python", *arguments],
        cwd=ROOT,
        env={**os.environ, "AIRFLOW_CONN_STREAMFLOW_WAREHOUSE": connection_uri(dsn)},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def dag_test(dag_id: str, logical_date: datetime, dsn: str, conf: dict[str, Any]) -> dict[str, Any]:
    script = "tests/airflow/run_dag.py"
    report = in_airflow([script, dag_id, logical_date.isoformat(), json.dumps(conf)], dsn)
    return {
        "state": report["state"],
        "seconds": round(report["seconds"], 1),
        "task_seconds": {k: round(v, 1) for k, v in report["task_seconds"].items() if v},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--backfill_days", type=int, default=7)
    parser.add_argument("--parses", type=int, default=5)
    args = parser.parse_args()
    server = project_server_dsn()
    results: dict[str, Any] = {}

    with scratch_database(server) as dsn:
        parses = [
            in_airflow(["tests/airflow/describe_dags.py"], dsn)["parse_seconds"]
            for _ in range(args.parses)
        ]
    results["dagbag_parse_seconds_median"] = round(statistics.median(parses), 3)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        dataset = generate_dataset(str(root), customers=args.customers, days=args.days)
        days = archive_file(dataset.events, root / "archive")
        last = date.fromisoformat(sorted(days)[-2])  # the last whole day
        first = last - timedelta(days=args.backfill_days - 1)
        model = str(DEFAULT_MODEL) if (DEFAULT_MODEL / "metadata.json").exists() else "none"
        window = ["--start", first.isoformat(), "--end", last.isoformat()]

        with scratch_database(server) as direct_dsn:
            plan_command = [sys.executable, "-m", "pipelines.backfill_plan"]
            plan_command += ["--archive", str(root / "archive"), *window, "--model", model]
            plan_command += ["--output_dir", str(root / "direct")]
            planned = json.loads(subprocess.check_output(plan_command, cwd=ROOT))
            options = {**planned["pipeline_options"], "postgres_dsn": direct_dsn}
            argv = [
                f"--{name}" if value is True else f"--{name}={one}"
                for name, value in options.items()
                for one in (value if isinstance(value, list) else [value])
            ]
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "pipelines.fraud", *argv, "--json"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            direct_seconds = time.perf_counter() - started
            read = json.loads(done.stdout)["counters"]["read"]

        with scratch_database(server) as airflow_dsn:
            conf = {
                "start": first.isoformat(),
                "end": last.isoformat(),
                "model": model,
                "archive": str(root / "archive"),
                "output_dir": str(root / "airflow"),
            }
            backfill = dag_test("fraud_backfill", datetime.now(UTC), airflow_dsn, conf)
            score_seconds = backfill["task_seconds"]["score"]
            results["backfill"] = {
                "events_read": read,
                "range_days": args.backfill_days,
                "warmup_days": planned["warmup_days_found"],
                "direct_seconds": round(direct_seconds, 1),
                "direct_events_per_s": round(read / direct_seconds),
                "operator_task_seconds": score_seconds,
                "operator_events_per_s": round(read / score_seconds),
                "dag_seconds": backfill["seconds"],
                "dag_events_per_s": round(read / backfill["seconds"]),
                "dag_tasks": backfill["task_seconds"],
            }
            now = datetime.now(UTC)
            results["dag_test"] = {
                dag_id: dag_test(dag_id, now, airflow_dsn, {})
                for dag_id in ("data_quality", "dlq_monitor", "silver_to_gold", "maintenance")
            }
            retrain_conf = {
                "archive": str(root / "archive"),
                "labels_file": dataset.labels,
                "model_dir": str(root / "production"),
                "train_days": 14,
                "holdout_days": 7,
            }
            # The last weekly interval (Monday to Monday) the archive covers whole.
            end = last + timedelta(days=1)
            monday = end - timedelta(days=end.weekday())
            logical = datetime(monday.year, monday.month, monday.day, 5, tzinfo=UTC)
            results["dag_test"]["model_retrain"] = dag_test(
                "model_retrain", logical, airflow_dsn, retrain_conf
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
