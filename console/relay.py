"""``python -m console relay``: publish the outbox to Kafka, and open cases for new alerts.

Outbox rows are sent in id order with an idempotent producer (``acks=all``) and marked sent
only once the broker has them all: a crash between the two sends them again on restart, with
the same ``feedback_id`` and report time, which changes nothing downstream (the pipeline's
feedback is a set of reports; the same report twice is one). One relay publishes at a time:
it holds an advisory lock for as long as it runs, and another replica waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from console.intake import intake
from pipelines.warehouse.locks import CONSOLE_RELAY_LOCK

LOGGER = logging.getLogger("console.relay")
BATCH = 500
POLL_S = 0.5
FLUSH_TIMEOUT_S = 30.0
RETRY_S = 5.0
LOOKBACK_EVERY_S = 30.0
CLIENT_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 30,
    "tcp_keepalives_interval": 10,
    "tcp_keepalives_count": 3,
}


class RelayError(Exception):
    """The broker did not take a batch; it stays in the outbox for the next round."""


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "log_level": 0,
        "message.timeout.ms": int(FLUSH_TIMEOUT_S * 1000),
    }


def publish_pending(
    connection: psycopg.Connection,
    producer: Any,
    limit: int = BATCH,
    flush_timeout_s: float = FLUSH_TIMEOUT_S,
) -> int:
    """Send up to ``limit`` unsent outbox rows and mark them sent; how many were sent.
    :class:`RelayError` if the broker refused or did not confirm any of them."""
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    with connection.transaction():
        rows = connection.execute(
            "SELECT outbox_id, topic, key, payload::text, timestamp_ms, feedback_id "
            "FROM console.outbox WHERE sent_at IS NULL ORDER BY outbox_id LIMIT %s FOR UPDATE",
            (limit,),
        ).fetchall()
        if not rows:
            return 0
        for _, topic, key, payload, timestamp_ms, feedback_id in rows:
            producer.produce(
                topic,
                key=str(key).encode("utf-8"),
                value=str(payload).encode("utf-8"),
                timestamp=int(timestamp_ms),
                headers=[("feedback_id", str(feedback_id).encode())],
                on_delivery=delivered,
            )
        unconfirmed = producer.flush(flush_timeout_s)
        if failures or unconfirmed:
            reason = failures[0] if failures else f"{unconfirmed} records not confirmed"
            raise RelayError(f"the broker did not take {len(rows)} outbox records: {reason}")
        connection.execute(
            "UPDATE console.outbox SET sent_at = now() WHERE outbox_id = ANY(%s)",
            ([row[0] for row in rows],),
        )
    return len(rows)


def run_relay(
    dsn: str,
    make_producer: Callable[[], Any],
    stop: threading.Event,
    poll_s: float = POLL_S,
    heartbeat: Path | None = None,
) -> None:
    """Relay until ``stop`` is set; a lost database or broker is retried, never fatal.
    ``heartbeat``: a file touched at every round, waiting for the lock included, for a
    liveness probe (a relay stuck anywhere stops touching it)."""
    producer = make_producer()

    def beat() -> None:
        if heartbeat is not None:
            heartbeat.touch()

    while not stop.is_set():
        beat()
        try:
            with psycopg.connect(
                make_conninfo(dsn, **CLIENT_KEEPALIVES), autocommit=True
            ) as connection:
                # The lock lives as long as the server's session: a connection that died
                # half-open must end on the server side too, within a minute, or the lock
                # would outlive it for the OS's two hours.
                for setting, value in SERVER_KEEPALIVES.items():
                    connection.execute(f"SET {setting} = {int(value)}")
                LOGGER.info("waiting for the relay lock")
                while not stop.is_set():
                    taken = connection.execute(
                        "SELECT pg_try_advisory_lock(%s)", (CONSOLE_RELAY_LOCK,)
                    ).fetchone()
                    if taken and taken[0]:
                        break
                    beat()
                    stop.wait(RETRY_S)
                LOGGER.info("relaying")
                last_lookback = 0.0
                while not stop.is_set():
                    beat()
                    # Late sink commits are looked for now and then: each look re-reads
                    # the look-back's alerts.
                    lookback = time.monotonic() - last_lookback >= LOOKBACK_EVERY_S
                    if lookback:
                        last_lookback = time.monotonic()
                    opened = intake(connection, lookback=lookback)
                    sent = publish_pending(connection, producer)
                    if opened or sent:
                        LOGGER.info("opened %d cases, published %d verdicts", opened, sent)
                    else:
                        stop.wait(poll_s)
        except (psycopg.OperationalError, RelayError) as error:
            LOGGER.warning("relay: %s; retrying in %.0f s", str(error).splitlines()[0], RETRY_S)
            stop.wait(RETRY_S)
    producer.flush(FLUSH_TIMEOUT_S)
