"""Spiders and projects written for scrapy-redis, run on scraperq's shared queue unchanged.

The spiders are the two of scrapy-redis' example project (``myspider_redis``, a
``RedisSpider``; ``mycrawler_redis``, a ``RedisCrawlSpider``), copied unchanged with
the project's settings, items and pipelines into tests/data/scrapy_redis_example
(MIT, its LICENSE beside them). They run as this project's spiders (SPIDER_MODULES)
and as that project of their own with ``ADDONS = {"scraperq.addon.Addon": 0}`` in
place of its ``SCHEDULER`` and ``DUPEFILTER_CLASS`` lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import BIN, ROOT, MockServer, crawl_env, scraperq, spawn, wait_for
from tests.source_helpers import stored, wait_for_final_tasks

EXAMPLE = ROOT / "tests" / "data" / "scrapy_redis_example"
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "LOG_LEVEL=INFO", "-s", "SCRAPERQ_QUEUE_POLL_SECONDS=0.1"]


class ScrapyRedisWorker:
    """``scrapy crawl SPIDER -a domain=127.0.0.1``, as scrapy-redis' example says to start it; stopped with SIGTERM."""

    def __init__(self, spider: str, env: dict[str, str], *, cwd: Path = ROOT, extra: tuple[str, ...] = ()) -> None:
        args = [str(BIN / "scrapy"), "crawl", spider, "-a", "domain=127.0.0.1", *FAST, *extra]
        self.proc = spawn(args, env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = ""

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err or ""
        return self.stderr


@pytest.fixture
def workers() -> Iterator[list[ScrapyRedisWorker]]:
    started: list[ScrapyRedisWorker] = []
    yield started
    for worker in started:
        worker.stop()


def in_this_project(sqlite_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """This project's settings, with the example's spiders beside scraperq's (SPIDER_MODULES)."""
    env = crawl_env(sqlite_url, REDIS_URL=redis_url, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(EXAMPLE)])
    return env


IN_THIS_PROJECT = ("-s", "SPIDER_MODULES=scraperq.spiders,example.spiders")


def held_anywhere(client: redis.Redis, spider: str) -> int:
    return sum(int(client.hlen(key)) for key in client.scan_iter(f"{spider}:held:*"))


def test_a_redis_spider_takes_its_redis_key_under_a_lease_and_stores_results(
    sqlite_url: str,
    redis_url: str,
    mockserver: MockServer,
    workers: list[ScrapyRedisWorker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = redis.Redis.from_url(redis_url)
    good = [
        mockserver("/site/1.html"),  # a bare URL: scrapy-redis' deprecated string form
        json.dumps({"url": mockserver("/site/2.html"), "meta": {"job-id": "123xsd"}}),  # its JSON form
        json.dumps({"url": mockserver("/site/3.html"), "priority": 7}),  # with scraperq's own priority key
    ]
    bad = [
        json.dumps({"meta": {"job-id": "no url"}}),  # make_request_from_data makes nothing
        json.dumps({"url": "file:///etc/passwd"}),
        json.dumps({"url": mockserver("/site/4.html"), "meta": {"proxy": "http://127.0.0.1:1"}}),
    ]
    client.lpush("myspider:start_urls", *good, *bad)
    # scraperq enqueue knows the spider's redis_key; its payload names the task it made.
    monkeypatch.syspath_prepend(str(EXAMPLE))
    enqueued = scraperq(
        sqlite_url, "enqueue", "--spider", "myspider_redis", mockserver("/site/6.html"),
        REDIS_URL=redis_url, SPIDER_MODULES='["scraperq.spiders", "example.spiders"]',
    )  # fmt: skip
    assert enqueued.returncode == 0, enqueued.stderr
    good.append(mockserver("/site/6.html"))
    status = scraperq(
        sqlite_url, "status", "--json", REDIS_URL=redis_url, SPIDER_MODULES='["scraperq.spiders", "example.spiders"]'
    )
    assert json.loads(status.stdout)["queues"]["myspider_redis"]["start_urls"] == len(good) + len(bad)
    worker = ScrapyRedisWorker("myspider_redis", in_this_project(sqlite_url, redis_url), extra=IN_THIS_PROJECT)
    workers.append(worker)
    tasks = wait_for_final_tasks(sqlite_url, len(good))
    wait_for(lambda: client.llen("myspider_redis:dead") == len(bad), message="the refused payloads dead-lettered")
    assert client.llen("myspider:start_urls") == 0
    assert [t["id"] for t in tasks if t["source"] == "cli"] == [int(enqueued.stdout)]
    assert {(t["spider"], t["status"]) for t in tasks} == {("myspider_redis", "completed")}
    assert sorted(t["url"] for t in tasks) == sorted(mockserver(f"/site/{n}.html") for n in (1, 2, 3, 6))
    assert [t["priority"] for t in tasks if t["url"].endswith("/3.html")] == [7]
    assert [t["meta"] for t in tasks if t["url"].endswith("/2.html")] == [{"job-id": "123xsd"}]
    _, results = stored(sqlite_url)
    assert sorted((r["data"]["url"], r["data"]["name"]) for r in results) == sorted(
        (mockserver(f"/site/{n}.html"), f"Page {n}") for n in (1, 2, 3, 6)
    )
    reasons = sorted(json.loads(letter)["reason"] for letter in client.lrange("myspider_redis:dead", 0, -1))
    assert any("made no request" in r for r in reasons), reasons
    assert any("proxy" in r for r in reasons), reasons
    assert any("scheme" in r or "file" in r for r in reasons), reasons
    wait_for(lambda: held_anywhere(client, "myspider_redis") == 0, message="every entry acknowledged")
    stderr = worker.stop()
    assert worker.proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]


def test_a_payload_a_killed_redis_spider_held_goes_to_the_next_worker(
    sqlite_url: str, redis_url: str, mockserver: MockServer, workers: list[ScrapyRedisWorker]
) -> None:
    """Taken under a lease, not popped: kill -9 the worker holding it and another one crawls it."""
    client = redis.Redis.from_url(redis_url)
    env = in_this_project(sqlite_url, redis_url, SCRAPERQ_LEASE_SECONDS="2")
    first = ScrapyRedisWorker("myspider_redis", env, extra=IN_THIS_PROJECT)
    workers.append(first)
    slow = mockserver("/slow?delay=2")
    client.lpush("myspider:start_urls", json.dumps({"url": slow}))
    wait_for(lambda: held_anywhere(client, "myspider_redis") == 1, message="the payload held by the worker")
    first.proc.kill()
    first.proc.wait()
    workers.append(ScrapyRedisWorker("myspider_redis", env, extra=IN_THIS_PROJECT))
    [task] = wait_for_final_tasks(sqlite_url, 1, min_items=1)
    assert (task["url"], task["status"], task["item_count"]) == (slow, "completed", 1)
    _, results = stored(sqlite_url)
    assert [r["data"]["url"] for r in results] == [slow]


def test_a_redis_crawl_spider_follows_its_rules_within_one_task(
    sqlite_url: str, redis_url: str, mockserver: MockServer, workers: list[ScrapyRedisWorker]
) -> None:
    client = redis.Redis.from_url(redis_url)
    pages = 7
    start = mockserver(f"/site/0.html?pages={pages}")
    client.lpush("mycrawler:start_urls", json.dumps({"url": start, "meta": {"origin": "test"}}))
    workers.append(ScrapyRedisWorker("mycrawler_redis", in_this_project(sqlite_url, redis_url), extra=IN_THIS_PROJECT))
    # Rule(LinkExtractor(), callback="parse_page") stores every page linked from the start page
    # and onwards; the start page itself goes through CrawlSpider's parse, which stores nothing.
    [task] = wait_for_final_tasks(sqlite_url, 1, min_items=pages - 1)
    assert (task["spider"], task["status"], task["item_count"]) == ("mycrawler_redis", "completed", pages - 1)
    _, results = stored(sqlite_url)
    assert sorted(r["data"]["url"] for r in results) == sorted(
        mockserver(f"/site/{n}.html?pages={pages}") for n in range(1, pages)
    )
    assert {r["task_id"] for r in results} == {task["id"]}


def test_scrapy_redis_scheduler_left_in_place_stops_the_spider_at_start_in_one_line(
    sqlite_url: str, redis_url: str
) -> None:
    extra = (*IN_THIS_PROJECT, "-s", "SCHEDULER=scrapy_redis.scheduler.Scheduler")
    worker = ScrapyRedisWorker("myspider_redis", in_this_project(sqlite_url, redis_url), extra=extra)
    worker.proc.wait(timeout=60)
    stderr = worker.stop()
    assert worker.proc.returncode == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("scrapy crawl: error:")]
    assert errors == [
        "scrapy crawl: error: SCHEDULER is scrapy-redis' scheduler, which pops requests without a lease:"
        " remove the SCHEDULER line (scraperq.addon.Addon sets scraperq's)"
    ], stderr[-3000:]
    assert "Traceback" not in stderr


def example_spider(**attributes: Any) -> Any:
    import sys

    sys.path.insert(0, str(EXAMPLE))
    try:
        from example.spiders.myspider_redis import MySpider
    finally:
        sys.path.remove(str(EXAMPLE))
    spider = MySpider(domain="127.0.0.1")
    spider.max_idle_time = 0
    spider.redis_key = "myspider:start_urls"
    for name, value in attributes.items():
        setattr(spider, name, value)
    return spider


RUNNABLE = {"REDIS_URL": "redis://127.0.0.1:6379/0", "SCHEDULER": "scraperq.queue.scheduler.Scheduler"}


@pytest.mark.parametrize(
    ("settings", "attributes", "says"),
    [
        ({"REDIS_START_URLS_AS_SET": True}, {}, "REDIS_START_URLS_AS_SET: scraperq takes start payloads from a list"),
        ({"REDIS_START_URLS_AS_ZSET": "1"}, {}, "REDIS_START_URLS_AS_ZSET: scraperq takes start payloads from a list"),
        ({}, {"max_idle_time": 5}, "MAX_IDLE_TIME_BEFORE_CLOSE (max_idle_time=5) of spider 'myspider_redis'"),
        ({"SCHEDULER_FLUSH_ON_START": True}, {}, "SCHEDULER_FLUSH_ON_START would delete the queue"),
        ({"DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter"}, {}, "DUPEFILTER_CLASS is scrapy-redis'"),
        ({"REDIS_URL": None}, {}, "spider 'myspider_redis' reads its start URLs from Redis (myspider:start_urls)"),
    ],
)
def test_what_cannot_be_kept_is_refused_saying_what_to_change(
    settings: dict[str, Any], attributes: dict[str, Any], says: str
) -> None:
    from scrapy.settings import Settings

    from scraperq.middlewares.scrapyredis import refusal

    problem = refusal(Settings({**RUNNABLE, **settings}), example_spider(**attributes))
    assert problem is not None and problem.startswith(says) and "\n" not in problem, problem
    assert refusal(Settings(RUNNABLE), example_spider()) is None


# -- scrapy-redis' example project, with the add-on ------------------------------------------------


@pytest.fixture(scope="module")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project, its SCHEDULER and DUPEFILTER_CLASS lines replaced by the add-on."""
    project = tmp_path_factory.mktemp("example-project") / "example-project"
    shutil.copytree(EXAMPLE, project)
    settings = project / "example" / "settings.py"
    text = settings.read_text()
    lines = [
        'DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"',
        'SCHEDULER = "scrapy_redis.scheduler.Scheduler"',
    ]
    assert all(line in text for line in lines)
    text = text.replace("\n".join(lines), 'ADDONS = {"scraperq.addon.Addon": 0}')
    settings.write_text(text)
    return project


def project_env(sqlite_url: str, redis_url: str) -> dict[str, Any]:
    env = crawl_env(sqlite_url, REDIS_URL=redis_url)
    env["PYTHONPATH"] = str(ROOT)  # scraperq, as an installed package would be; the project from its folder
    return env


def test_the_example_project_with_the_addon_runs_its_spiders_on_leases_and_the_ledger(
    example_project: Path, sqlite_url: str, redis_url: str, mockserver: MockServer, workers: list[ScrapyRedisWorker]
) -> None:
    client = redis.Redis.from_url(redis_url)
    env = project_env(sqlite_url, redis_url)
    pages = 3
    client.lpush("myspider:start_urls", json.dumps({"url": mockserver("/site/1.html")}))
    client.lpush("mycrawler:start_urls", json.dumps({"url": mockserver(f"/site/0.html?pages={pages}")}))
    workers.append(ScrapyRedisWorker("myspider_redis", env, cwd=example_project))
    workers.append(ScrapyRedisWorker("mycrawler_redis", env, cwd=example_project))
    tasks = wait_for_final_tasks(sqlite_url, 2, min_items=1 + pages - 1)
    assert sorted((t["spider"], t["status"], t["item_count"]) for t in tasks) == [
        ("mycrawler_redis", "completed", pages - 1),
        ("myspider_redis", "completed", 1),
    ]
    _, results = stored(sqlite_url)
    # The project's own pipelines ran, in their order, before scraperq's store: ExamplePipeline
    # (300) added crawled and spider; scrapy-redis' RedisPipeline (400) pushed the items to Redis.
    assert {r["data"]["spider"] for r in results} == {"myspider_redis", "mycrawler_redis"}
    assert all(r["data"]["crawled"] for r in results)
    assert client.llen("myspider_redis:items") == 1
    assert client.llen("mycrawler_redis:items") == pages - 1
    # The shared queue's workers under leases, not scrapy-redis' scheduler and its seen-set of fingerprints.
    assert client.zcard("myspider_redis:workers") == client.zcard("mycrawler_redis:workers") == 1
    assert client.type("mycrawler_redis:dupefilter") != b"set"
    for worker in workers:
        stderr = worker.stop()
        assert worker.proc.returncode == 0, stderr[-3000:]
        assert "Enabled addons" in stderr and "scraperq.addon.Addon" in stderr
        assert "BackoffRetryMiddleware" in stderr and "downloadermiddlewares.retry.RetryMiddleware" not in stderr
        assert "Traceback" not in stderr, stderr[-3000:]


def project_egg(project: Path, egg: Path) -> Path:
    """The project as the egg ``scrapyd-deploy`` builds of it: its package and the entry point naming its settings."""
    import zipfile

    with zipfile.ZipFile(egg, "w") as archive:
        for path in sorted((project / "example").rglob("*.py")):
            archive.write(path, path.relative_to(project).as_posix())
        archive.writestr("EGG-INFO/entry_points.txt", "[scrapy]\nsettings = example.settings\n")
        archive.writestr("EGG-INFO/PKG-INFO", "Metadata-Version: 1.0\nName: example\nVersion: 1\n")
    return egg


def test_the_example_project_deployed_to_scrapyd_runs_as_a_worker_on_the_ledger(
    example_project: Path, scrapyd: list[Any], pg_url: str, redis_url: str, mockserver: MockServer, tmp_path: Path
) -> None:
    """The add-on in an egg of the user's own project: a Scrapyd job is a worker that records itself."""
    from scraperq.storage import open_database

    egg = project_egg(example_project, tmp_path / "example.egg")
    node = scrapyd[-1]
    added = node.call("addversion.json", project="example", version="1", egg=egg.read_bytes())  # type: ignore[arg-type]
    assert added["status"] == "ok", added
    answer = node.call(
        "schedule.json", project="example", _version="1", spider="myspider_redis", domain="127.0.0.1",
        setting=f"REDIS_URL={redis_url}",
    )  # fmt: skip
    assert answer["status"] == "ok", answer
    page = mockserver("/site/5.html")
    redis.Redis.from_url(redis_url).lpush("myspider:start_urls", json.dumps({"url": page}))
    [task] = wait_for_final_tasks(pg_url, 1, min_items=1, timeout=120)
    assert (task["spider"], task["url"], task["status"], task["job_id"]) == (
        "myspider_redis",
        page,
        "completed",
        answer["jobid"],
    )
    with open_database(pg_url) as db, db.transaction() as cur:
        runs = cur.execute(
            "SELECT spider, status FROM job_runs WHERE scrapyd_job_id = %s", [answer["jobid"]]
        ).fetchall()
    assert [(r["spider"], r["status"]) for r in runs] == [("myspider_redis", "running")]
    # Leave the shared nodes as they were: the worker stopped, the project gone.
    node.call("cancel.json", project="example", job=answer["jobid"])
    wait_for(lambda: node.call("daemonstatus.json")["running"] == 0, timeout=60, message="the worker to stop")
    assert node.call("delproject.json", project="example")["status"] == "ok"


def test_the_addon_adds_scraperq_around_the_projects_own_components_in_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scrapy.settings import Settings
    from scrapy.utils.conf import build_component_list

    from scraperq.addon import Addon

    monkeypatch.syspath_prepend(str(EXAMPLE))  # the project's modules, importable as in the project
    settings = Settings()
    settings.setdict(
        {
            "ITEM_PIPELINES": {"example.pipelines.ExamplePipeline": 300, "scrapy_redis.pipelines.RedisPipeline": 400},
            "DOWNLOADER_MIDDLEWARES": {"scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": 400},
            "DOWNLOAD_DELAY": 1,
            "REDIS_PARAMS": {"password": "from-the-project"},
            "DOWNLOAD_HANDLERS": {"ftp": "my.FtpHandler"},
        },
        priority="project",
    )
    Addon().update_settings(settings)

    def components(name: str) -> list[str]:
        found = build_component_list(settings.getwithbase(name))
        return [c if isinstance(c, str) else f"{c.__module__}.{c.__qualname__}" for c in found]

    assert components("ITEM_PIPELINES") == [
        "scraperq.pipelines.validate.ValidatePipeline",
        "example.pipelines.ExamplePipeline",
        "scrapy_redis.pipelines.RedisPipeline",
        "scraperq.pipelines.store.StorePipeline",
    ]
    downloader = components("DOWNLOADER_MIDDLEWARES")
    assert "scrapy.downloadermiddlewares.retry.RetryMiddleware" not in downloader
    ours = [
        "scraperq.middlewares.tasks.TaskStatusMiddleware",
        "scraperq.middlewares.ssrf.SSRFGuardMiddleware",
        "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware",
        "scraperq.middlewares.retry.BackoffRetryMiddleware",
    ]
    assert [m for m in downloader if m in ours] == ours
    spider_mws = components("SPIDER_MIDDLEWARES")
    assert "scraperq.middlewares.scrapyredis.ScrapyRedisSpiderMiddleware" in spider_mws
    assert settings["SCHEDULER"] == "scraperq.queue.scheduler.Scheduler"
    assert settings["DUPEFILTER_CLASS"] == "scraperq.queue.dupefilter.TaskDupeFilter"
    assert settings["TWISTED_DNS_RESOLVER"] == "scraperq.resolver.GuardedResolver"
    assert settings.getfloat("SCRAPERQ_RETRY_BACKOFF") > 0
    # The project's own choices stay: its settings, and a handler it named.
    assert settings.getint("DOWNLOAD_DELAY") == 1
    assert settings.getdict("REDIS_PARAMS") == {"password": "from-the-project"}
    assert settings.getdict("DOWNLOAD_HANDLERS")["ftp"] == "my.FtpHandler"
    assert settings.getdict("DOWNLOAD_HANDLERS")["file"] is None
