"""Rows per second of the warehouse sink, alone and inside the pipeline.

    python benchmarks/postgres_sink.py [--rows 100000] [--dsn DSN]

Writes generated raw transactions into a fresh database (created and dropped here, on the
project's cluster from ``scripts/postgres.sh`` unless ``--dsn`` names a server whose role may
create databases) with the sink's batch writer, then replays them (all conflicts: the
idempotent path). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from pipelines.warehouse.scratch import scratch_database
from transforms.postgres_sink import MAX_BATCH, RAW_TRANSACTIONS, _WriteBatchFn


def _records(rows: int) -> list[dict[str, Any]]:
    return [
        {
            "transaction_id": f"bench-{i}",
            "customer_id": f"C{i % 5000:06d}",
            "event_time": f"2026-10-{1 + i % 28:02d}T12:{i % 60:02d}:00.000Z",
            "schema_version": 2,
            "source": f"bench:{i}",
            "raw_payload": json.dumps({"transaction_id": f"bench-{i}", "amount": "10.00"}),
        }
        for i in range(rows)
    ]


def _write_all(dsn: str, records: list[dict[str, Any]]) -> float:
    writer = _WriteBatchFn(dsn, RAW_TRANSACTIONS)
    writer.setup()
    started = time.perf_counter()
    for start in range(0, len(records), MAX_BATCH):
        list(writer.process(records[start : start + MAX_BATCH]))
    seconds = time.perf_counter() - started
    writer.teardown()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    with scratch_database(args.dsn) as dsn:
        records = _records(args.rows)
        first = _write_all(dsn, records)
        replay = _write_all(dsn, records)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "batch_size": MAX_BATCH,
                "insert_rows_per_second": round(args.rows / first),
                "replay_rows_per_second": round(args.rows / replay),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
