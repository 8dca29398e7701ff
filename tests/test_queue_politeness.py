"""Per-site limits held by all the workers of a spider together, measured where the site sees them.

Real ``scrapy crawl`` workers share one Redis and PostgreSQL; the mock server records
when each request arrived, and the gaps between them are compared with the limit.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest

from scraperq.errors import ConfigError
from scraperq.queue.sitelimits import SiteLimits, parse_site_limits
from scraperq.sources.schema import spider_class_from_yaml
from scraperq.storage.results import count_results
from tests import test_queue_workers as queue_workers
from tests.helpers import MockServer, wait_for

# The worker processes and clients of the queue's worker tests.
workers, db, r = queue_workers.workers, queue_workers.db, queue_workers.r
all_final, enqueue = queue_workers.all_final, queue_workers.enqueue

DELAY = 0.25


@pytest.fixture(scope="module")
def other_site() -> Any:
    """A second site: the mock server on another loopback address, so another download slot."""
    server = MockServer("127.0.0.2")
    yield server
    server.stop()


def arrivals(mockserver: Any, marker: str) -> list[float]:
    """Server-side arrival times of the requests whose path contains ``marker``."""
    return sorted(when for path, when in mockserver.log() if marker in path)


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def test_two_workers_together_keep_a_sites_delay_while_another_site_goes_at_full_speed(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any, other_site: Any
) -> None:
    other_site.reset()
    limits = json.dumps({"127.0.0.1": {"delay": DELAY}})
    pair = [
        workers(
            "follow=same-host",
            "depth=20",
            SCRAPERQ_SITE_LIMITS=limits,
            DOWNLOAD_DELAY_JITTER="0",
            # Little held ahead and a quick look when idle: both workers take part in a crawl of seconds,
            # even when one of them is slow to start on a busy machine.
            SCRAPERQ_QUEUE_PREFETCH="2",
            SCRAPERQ_QUEUE_POLL_SECONDS="0.1",
            CONCURRENT_REQUESTS="4",
            SCRAPERQ_LEASE_SECONDS="30",
        )
        for _ in range(2)
    ]
    for worker in pair:
        worker.wait_ready()
    limited, free = 16, 40  # pages of the limited site (127.0.0.1) and of the other (127.0.0.2)
    enqueue(pg_url, redis_url, mockserver(f"/site/0.html?pages={limited}"), other_site(f"/site/0.html?pages={free}"))
    wait_for(lambda: count_results(db) == limited + free, timeout=90, message="every page stored")
    for worker in pair:
        assert worker.stop() == 0
    slow = arrivals(mockserver, "/site/")
    fast = arrivals(other_site, "/site/")
    assert (len(slow), len(fast)) == (limited, free)
    assert all(worker.stat("scheduler/dequeued/redis") > 0 for worker in pair)
    # Two workers alone would each keep the delay and together send twice the rate.
    assert rate(slow) <= 1.15 / DELAY, slow
    gaps = [b - a for a, b in zip(slow, slow[1:], strict=False)]
    assert statistics.median(gaps) >= 0.9 * DELAY, gaps
    # The other site is not held to it: most of its requests come closer together than the delay.
    fast_gaps = [b - a for a, b in zip(fast, fast[1:], strict=False)]
    assert statistics.median(fast_gaps) < DELAY / 2, fast_gaps


def test_a_concurrency_limit_holds_across_workers(workers: Any, db: Any, other_site: Any, r: Any) -> None:
    """One request at a time to a site: each starts after the previous one ended, whichever worker sent it."""
    other_site.reset()
    answer = 0.4
    limits = json.dumps({"127.0.0.2": {"concurrency": 1}})
    # Leases long enough that a worker starved of CPU on a busy machine is not taken for gone (a re-fetch).
    pair = [
        workers(SCRAPERQ_SITE_LIMITS=limits, CONCURRENT_REQUESTS="4", SCRAPERQ_LEASE_SECONDS="30") for _ in range(2)
    ]
    for worker in pair:
        worker.wait_ready()
    count = 6
    r.lpush("generic:start_urls", *(other_site(f"/slow?delay={answer}&id=c{i}") for i in range(count)))
    wait_for(lambda: all_final(db, count), timeout=90, message="every task final")
    for worker in pair:
        assert worker.stop() == 0
    starts = arrivals(other_site, "&id=c")
    assert len(starts) == count
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.9 * answer, gaps  # unlimited, 2 x 4 at once would all start together
    assert all(worker.stat("scheduler/dequeued/redis") > 0 for worker in pair)
    assert not r.zcard("generic:slot:127.0.0.2:active")  # every lease given back


class Settings(dict):
    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name, default)

    def getdict(self, name: str) -> dict[str, Any]:
        value = self.get(name) or {}
        return json.loads(value) if isinstance(value, str) else dict(value)

    def getfloat(self, name: str, default: float = 0.0) -> float:
        return float(self.get(name, default))

    def getint(self, name: str, default: int = 0) -> int:
        return int(self.get(name, default))

    def getbool(self, name: str, default: bool = False) -> bool:
        return bool(self.get(name, default))

    def getpriority(self, name: str) -> int:
        return 0


def test_site_limits_match_a_host_and_its_subdomains_longest_first() -> None:
    limits = SiteLimits(
        Settings(
            SCRAPERQ_SITE_LIMITS={
                "example.com": {"delay": 1},
                "api.example.com": {"concurrency": 2},
                "*": {"delay": 3},
            },
            DOWNLOAD_DELAY=0.5,
            CONCURRENT_REQUESTS_PER_DOMAIN=8,
            DOWNLOAD_DELAY_JITTER=0.5,
        )
    )
    assert (limits.policy("www.example.com").delay, limits.policy("www.example.com").concurrency) == (1.0, 0)
    assert (limits.policy("api.example.com").delay, limits.policy("api.example.com").concurrency) == (0.5, 2)
    assert limits.policy("example.org").delay == 3.0
    assert limits.policy("notexample.com").delay == 3.0  # a suffix of the name, not a sub-domain


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"a.com": {"delay": -1}}, "delay"),
        ({"a.com": {"concurrency": 0}}, "concurrency"),
        ({"a.com": {"rate": 1}}, "unknown key 'rate'"),
        ({"a.com": 2}, "must be"),
        ([1], "must map"),
    ],
)
def test_bad_site_limits_are_refused_in_one_line(raw: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_site_limits(raw)


def test_a_source_file_sets_limits_per_site() -> None:
    spidercls = spider_class_from_yaml(
        "start_urls: [https://news.example/]\nfields: {t: h1}\n"
        "politeness: {sites: {news.example: {delay: 2, concurrency: 1}}}\n",
        file="news.yaml",
        stem="news",
    )
    assert spidercls.custom_settings["SCRAPERQ_SITE_LIMITS"] == {"news.example": {"delay": 2, "concurrency": 1}}
