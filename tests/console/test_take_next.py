""" "Take next" under concurrency: twenty analysts at once never get the same alert."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import psycopg

from console.queue import take_next
from console.users import add_user
from tests.console.conftest import PASSWORD
from tests.console.seed import seed_alerts

ANALYSTS = 20
ALERTS = 150


def test_twenty_analysts_never_share_an_alert(warehouse_dsn: str, console_dsn: str) -> None:
    seeded = seed_alerts(warehouse_dsn, ALERTS, prefix="race", store_id="s-race")
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        analysts = [
            add_user(connection, f"racer{i}", "analyst", PASSWORD).user_id for i in range(ANALYSTS)
        ]
    taken: dict[int, list[uuid.UUID]] = {user: [] for user in analysts}
    start = threading.Barrier(ANALYSTS)

    def work(user_id: int) -> None:
        with psycopg.connect(console_dsn, autocommit=True) as connection:
            start.wait()
            while (taken_case := take_next(connection, user_id)) is not None:
                taken[user_id].append(taken_case["alert_id"])

    threads = [threading.Thread(target=work, args=(user,)) for user in analysts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    every = [alert_id for alerts in taken.values() for alert_id in alerts]
    assert len(every) == len(set(every))  # nobody got an alert twice, no two shared one
    assert {str(a) for a in every} >= {a.alert_id for a in seeded}
    assert sum(1 for alerts in taken.values() if alerts) > 1  # they really raced
    with psycopg.connect(warehouse_dsn) as connection:
        assigned = connection.execute(
            "SELECT c.assignee, count(*) FROM console.alert_cases c WHERE c.store_id = 's-race' "
            "GROUP BY 1"
        ).fetchall()
        events = connection.execute(
            "SELECT count(*) FROM console.case_events e JOIN console.alert_cases c "
            "USING (alert_id) WHERE c.store_id = 's-race' AND e.kind = 'assigned'"
        ).fetchone()
    assert Counter(dict(assigned)) == Counter(
        {user: len(alerts) for user, alerts in taken.items() if alerts}
    )
    assert events == (ALERTS,)


def test_take_next_gives_the_riskiest_first(warehouse_dsn: str, console_dsn: str) -> None:
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE console.alert_cases SET status = 'dismissed' WHERE status = 'open'"
        )
        user = add_user(connection, "orderly", "analyst", PASSWORD).user_id
    seeded = seed_alerts(
        warehouse_dsn, 5, prefix="ord", score_of=lambda i: [0.6, 0.95, 0.7, 0.95, 0.8][i]
    )
    with psycopg.connect(console_dsn, autocommit=True) as connection:
        order = [
            (taken["alert_id"] if taken else None)
            for taken in (take_next(connection, user) for _ in range(6))
        ]
    by_id = {a.alert_id: a for a in seeded}
    picked = [by_id[str(alert_id)].transaction_id for alert_id in order[:5]]
    assert picked == ["ord3", "ord1", "ord4", "ord2", "ord0"]  # riskiest, then newest
    assert order[5] is None
