"""Fair share within a priority: a small task is served while a big one runs; priorities still win.

A real worker crawls a wide site (each page links to many) for one big task, so hundreds of
its requests wait in Redis when two one-page tasks come in: the mock server's request log
shows where they were served.
"""

from __future__ import annotations

from typing import Any

from scraperq.storage.results import count_results
from tests import test_queue_workers as queue_workers
from tests.helpers import wait_for

workers, db = queue_workers.workers, queue_workers.db
enqueue = queue_workers.enqueue


def test_a_one_page_task_is_served_while_a_big_task_runs_but_not_before_higher_priorities(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any
) -> None:
    worker = workers("follow=same-host", "depth=5", CONCURRENT_REQUESTS="2", SCRAPERQ_LEASE_SECONDS="30")
    worker.wait_ready()
    pages = 300
    enqueue(pg_url, redis_url, mockserver(f"/site/0.html?pages={pages}&fan=60"))

    def big_fetched() -> int:
        return sum(1 for path, _ in mockserver.log() if path.startswith("/site/"))

    wait_for(lambda: big_fetched() >= 5, timeout=60, message="the big task under way")
    # Same priority: takes its turn. Lower priority: waits for the whole big task.
    enqueue(pg_url, redis_url, mockserver("/slow?delay=0&id=small"))
    enqueue(pg_url, redis_url, mockserver("/slow?delay=0&id=low"), priority=-1)
    submitted = big_fetched()
    wait_for(lambda: count_results(db) == pages + 2, timeout=120, message="every page stored")
    assert worker.stop() == 0
    order = [path for path, _ in mockserver.log() if path.startswith(("/site/", "/slow"))]
    small, low = order.index("/slow?delay=0&id=small"), order.index("/slow?delay=0&id=low")
    assert submitted < pages / 3  # the big task still had most of its pages queued
    # Served next to the big task's next pages (those already taken or in flight), not after
    # the hundreds it has queued.
    assert small - submitted <= 10, (submitted, small)
    assert low == len(order) - 1, (submitted, low)
