"""The alert tables on SQLite and PostgreSQL: an event recorded once, deliveries leased by one daemon at a
time, state changes seen by one daemon only, and what the console and the metrics read back."""

from __future__ import annotations

import threading
from datetime import timedelta

from scraperq.storage import Database
from scraperq.storage import alerts as store
from scraperq.storage.connection import utcnow


def new_alert(event_id: str, type: str = "job.failed") -> store.NewAlert:
    return store.NewAlert(event_id, type, {"id": event_id, "type": type, "summary": f"{event_id} happened"})


def test_an_event_is_recorded_once_with_a_delivery_per_destination(db: Database) -> None:
    now = utcnow()

    first = store.record_alert(db, new_alert("job.failed:1:x"), destinations=["webhook", "slack"], at=now)
    again = store.record_alert(db, new_alert("job.failed:1:x"), destinations=["webhook", "slack"], at=now)

    assert (first, again) == (True, False)
    [alert] = store.recent_alerts(db)
    assert alert.summary == "job.failed:1:x happened"
    assert sorted((d.destination, d.status, d.attempts) for d in alert.deliveries) == [
        ("slack", "pending", 0),
        ("webhook", "pending", 0),
    ]
    assert store.known_events(db, ["job.failed:1:x", "job.failed:2:x"]) == {"job.failed:1:x"}


def test_a_delivery_is_leased_by_one_daemon_until_its_lease_runs_out(db: Database) -> None:
    now = utcnow()
    store.record_alert(db, new_alert("node.down:n:1", "node.down"), destinations=["webhook"], at=now)
    [due] = store.due_deliveries(db, "webhook", now=now)
    lease = now + timedelta(seconds=40)

    taken = store.lease_delivery(db, due.id, now=now, until=lease)
    taken_by_another = store.lease_delivery(db, due.id, now=now + timedelta(seconds=1), until=lease)

    assert (taken, taken_by_another) == (1, None)
    assert store.due_deliveries(db, "webhook", now=now + timedelta(seconds=1)) == []
    assert store.next_due_at(db, "webhook") == lease
    # The daemon that held it died: after the lease the delivery is due again, as a second attempt.
    assert store.lease_delivery(db, due.id, now=lease, until=lease + timedelta(seconds=40)) == 2


def test_deliveries_are_counted_by_outcome(db: Database) -> None:
    now = utcnow()
    for n in range(4):
        store.record_alert(db, new_alert(f"job.failed:{n}:x"), destinations=["webhook"], at=now)
    ids = [d.id for d in store.due_deliveries(db, "webhook", now=now)]
    for delivery_id in ids[:3]:
        store.lease_delivery(db, delivery_id, now=now, until=now + timedelta(seconds=40))
    store.delivery_succeeded(db, ids[0], at=now)
    store.delivery_failed(db, ids[1], error="HTTP 500", retry_at=now + timedelta(seconds=5))
    store.delivery_failed(db, ids[2], error="HTTP 404", retry_at=None)

    assert store.delivery_counts(db) == {"pending": 1, "retrying": 1, "delivered": 1, "failed": 1}
    failed = store.recent_deliveries(db, status="failed")
    assert [(d.last_error, d.attempts, d.type) for d in failed] == [("HTTP 404", 1, "job.failed")]


def test_a_state_change_is_seen_by_one_of_many_daemons_making_it_at_once(db: Database) -> None:
    numbers: list[int | None] = []
    start = threading.Barrier(6)

    def change() -> None:
        start.wait()
        numbers.append(store.change_state(db, "node:n", "down", initial="up", at=utcnow()))

    threads = [threading.Thread(target=change) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(numbers, key=lambda n: n or 0) == [None] * 5 + [1]
    assert store.change_state(db, "node:n", "up", initial="up", at=utcnow()) == 2
    assert store.change_state(db, "node:other", "up", initial="up", at=utcnow()) is None  # no change from initial


def test_a_state_change_and_its_event_are_recorded_together(db: Database) -> None:
    number = store.change_state(
        db,
        "dead:generic",
        "over",
        initial="under",
        at=utcnow(),
        alert=lambda n: new_alert(f"dead_letters.threshold:generic:{n}", "dead_letters.threshold"),
        destinations=["webhook"],
    )

    assert number == 1
    [alert] = store.recent_alerts(db)
    assert (alert.event_id, [d.destination for d in alert.deliveries]) == (
        "dead_letters.threshold:generic:1",
        ["webhook"],
    )


def test_recent_alerts_page_back_and_filter_by_type(db: Database) -> None:
    now = utcnow()
    for n in range(5):
        store.record_alert(db, new_alert(f"e{n}", "node.down" if n % 2 else "job.failed"), destinations=[], at=now)

    first_page = store.recent_alerts(db, limit=2)
    second_page = store.recent_alerts(db, limit=2, before_id=first_page[-1].id)

    assert [a.event_id for a in first_page + second_page] == ["e4", "e3", "e2", "e1"]
    assert [a.event_id for a in store.recent_alerts(db, type="node.down")] == ["e3", "e1"]


def test_old_alerts_are_forgotten_but_not_while_a_delivery_is_pending(db: Database) -> None:
    then = utcnow() - timedelta(days=30)
    store.record_alert(db, new_alert("old-sent"), destinations=["webhook"], at=then)
    store.record_alert(db, new_alert("old-pending"), destinations=["webhook"], at=then)
    store.record_alert(db, new_alert("new"), destinations=[], at=utcnow())
    [sent] = [d for d in store.due_deliveries(db, "webhook", now=utcnow()) if d.event_id == "old-sent"]
    store.lease_delivery(db, sent.id, now=utcnow(), until=utcnow() + timedelta(seconds=40))
    store.delivery_succeeded(db, sent.id, at=utcnow())

    assert store.delete_alerts_before(db, utcnow() - timedelta(days=7)) == 1
    assert sorted(a.event_id for a in store.recent_alerts(db)) == ["new", "old-pending"]
    assert [d.event_id for d in store.recent_deliveries(db)] == ["old-pending"]
