"""Task rows for Redis start payloads: one per payload token, however often it is delivered."""

from __future__ import annotations

from typing import Any

from scraperq.queue.taskrows import copy_pending, create_tasks_once, insert_pending, task_states
from scraperq.storage.tasks import NewTask, list_tasks


def test_a_payload_delivered_again_reuses_the_task_it_created(db: Any) -> None:
    first = [("000000000001.ab", NewTask(spider="generic", url="https://example.com/a", source="redis"))]
    with db.transaction() as cur:
        created = create_tasks_once(cur, first)
    # The worker died before queueing the request; the payload comes back with its token.
    again = [*first, ("000000000002.ab", NewTask(spider="generic", url="https://example.com/b", source="redis"))]
    with db.transaction() as cur:
        recreated = create_tasks_once(cur, again)
    assert recreated["000000000001.ab"] == created["000000000001.ab"]
    assert sorted(t["url"] for t in list_tasks(db)) == ["https://example.com/a", "https://example.com/b"]


def test_bulk_inserted_tasks_come_back_in_input_order(db: Any) -> None:
    urls = [f"https://example.com/{i}" for i in range(1200)]
    with db.transaction() as cur:
        ids = insert_pending(cur, [NewTask(spider="generic", url=u, priority=3) for u in urls])
        states = task_states(cur, [ids[0], ids[-1], 999_999])
    by_id = {t["id"]: t for t in list_tasks(db, limit=2000)}
    assert [by_id[i]["url"] for i in ids] == urls
    assert {by_id[i]["priority"] for i in ids} == {3}
    assert set(states) == {ids[0], ids[-1]}
    assert states[ids[0]].status == "pending" and not states[ids[0]].final


def test_tasks_copied_in_bulk_are_like_inserted_ones_and_come_back_in_input_order(db: Any) -> None:
    urls = [f"https://example.com/{i}?q=\\tab\u00e9" for i in range(1500)]  # a backslash and non-ASCII, as COPY text
    with db.transaction() as cur:
        [before] = insert_pending(cur, [NewTask(spider="generic", url="https://example.com/first")])
        ids = copy_pending(cur, urls, spider="books", priority=-2, source="api")
        [after] = insert_pending(cur, [NewTask(spider="generic", url="https://example.com/last")])
    assert before < ids[0] and ids[-1] < after  # the same sequence: later inserts go on after them
    by_id = {t["id"]: t for t in list_tasks(db, limit=2000)}
    assert [by_id[i]["url"] for i in ids] == urls
    fields = {
        (t["spider"], t["status"], t["priority"], t["source"], t["attempts"], t["item_count"])
        for t in by_id.values()
        if t["id"] in set(ids)
    }
    assert fields == {("books", "pending", -2, "api", 0, 0)}
    assert by_id[ids[0]]["meta"] in ({}, None) and by_id[ids[0]]["created_at"].tzinfo is not None
