"""The scheduler's HTTP API, served for real on a free loopback port, against real PostgreSQL and Redis.

Every answer a test gets through ``Api.call`` is checked against the OpenAPI
document the server publishes (status code, media type, body schema), so the
document cannot drift from what the server does; ``Api.raw`` skips that for
requests the document deliberately does not describe (unknown paths, methods).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from scheduler.api.app import ROUTES
from scheduler.api.openapi import spec
from scraperq.payloads import payload_json
from scraperq.storage import jobs, open_database
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.results import ResultRow, insert_results
from scraperq.storage.tasks import NewTask, create_tasks, mark_failed
from tests.helpers import free_port, scraperq, wait_for

TOKEN = "s3cret-" + uuid.uuid4().hex


def _text(raw: bytes, **parameters: str) -> str:
    return raw.decode(parameters.get("charset", "utf-8"))


OPENAPI = OpenAPI.from_dict(
    spec(),
    config=Config(
        extra_media_type_deserializers={
            media: _text for media in ("text/csv", "application/x-ndjson", "text/css", "text/javascript")
        }
    ),
)


@dataclass
class Api:
    url: str
    db: Database
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # no proxy from the environment for loopback
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request whose answer must match the OpenAPI document."""
        response = self.raw(method, path, **kwargs)
        OPENAPI.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)


def project_settings(**overrides: str) -> Any:
    from scheduler.settings import ProjectSettings

    return ProjectSettings.load(overrides)


TABLES = "tasks, results, schedules, job_runs"


@pytest.fixture(scope="module")
def database(pg_server_url: str) -> Iterator[Database]:
    """The session's PostgreSQL database, migrated once for this module's servers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", pg_server_url)  # the storage layer reads it before the settings
        database = open_database(pg_server_url)
        yield database
        database.close()


@pytest.fixture
def db(database: Database) -> Database:
    """The database, emptied for this test (servers keep their connections: no schema is dropped)."""
    with database.transaction() as cur:
        cur.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return database


def _serve(database_url: str, *, loop: bool = False, **overrides: str) -> tuple[Any, Any, Api]:
    """The daemon's parts and its API, built from these settings; with ``loop``, the firing loop runs too."""
    from scheduler.api import serve
    from scheduler.app import build_app

    values = {
        "DATABASE_URL": database_url,
        "SCRAPERQ_API_BIND": "127.0.0.1:0",
        # A port nobody listens on: the node is down at once, no waiting for a timeout.
        "SCRAPYD_NODES": f"http://127.0.0.1:{free_port()}",
        "SCRAPYD_TIMEOUT": "5",
        "SCRAPERQ_API_MAX_BODY": "65536",
    }
    values.update(overrides)
    settings = project_settings(**values)
    app = build_app(settings)
    server = serve(settings, app)
    if loop:
        app.loop = threading.Thread(target=app.daemon.run, name="test-daemon")
        app.loop.start()
        wait_for(app.daemon.leadership.is_leader.is_set, timeout=30, message="the daemon to lead")
    return server, app, Api(server.url, app.db, token=overrides.get("SCRAPERQ_API_TOKEN"))


def _stop(server: Any, app: Any, api: Api) -> None:
    api.session.close()
    server.stop()
    if getattr(app, "loop", None) is not None:
        app.daemon.request_stop()
        app.loop.join(timeout=60)
    app.close()


@pytest.fixture(scope="module")
def shared_api(database: Database) -> Iterator[Api]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database.url)
        started = _serve(database.url)
        yield started[2]
        _stop(*started)


@pytest.fixture
def api(shared_api: Api, db: Database) -> Api:
    """A server with the default settings (no token, no Redis, no Scrapyd node up) on an empty database."""
    return shared_api


@pytest.fixture
def start_api(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a server with other settings; stopped after the test."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    started: list[tuple[Any, Any, Api]] = []

    def start(*, loop: bool = False, **overrides: str) -> Api:
        started.append(_serve(db.url, loop=loop, **overrides))
        return started[-1][2]

    yield start
    for server, app, api in started:
        _stop(server, app, api)


def add_tasks(db: Database, count: int, *, spider: str = "generic", prefix: str = "https://example.com/p") -> list[int]:
    return create_tasks(db, [NewTask(spider=spider, url=f"{prefix}{i}") for i in range(count)])


def add_results(db: Database, task_id: int, count: int, *, spider: str = "generic", at: datetime | None = None) -> None:
    at = at or utcnow()
    rows = [
        ResultRow(task_id, spider, f"https://example.com/r{i}", {"n": i, "title": f'Title, "{i}"\n'}, at, f"fp{i}")
        for i in range(count)
    ]
    with db.transaction() as cur:
        insert_results(cur, rows)


def error_of(response: requests.Response) -> str:
    body = response.json()
    assert body["status"] == response.status_code
    return body["error"]


# -- the document ---------------------------------------------------------------------------


def test_openapi_document_is_valid_and_describes_exactly_the_routes_served(api: Api) -> None:
    from openapi_spec_validator import validate

    served = api.get("/openapi.json").json()
    validate(served)
    documented = {(path, method.upper()) for path, item in served["paths"].items() for method in item}
    assert documented == {(route.path, route.method) for route in ROUTES}


# -- health, metrics, dashboard ---------------------------------------------------------------


def test_healthz_reports_the_database(api: Api) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_is_503_when_the_database_is_gone(pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    admin = pg_server_url.rsplit("/", 1)[0] + "/postgres"
    name = f"scraperq_gone_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server_url.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv("DATABASE_URL", url)
    started = _serve(url)  # build_app migrates it
    api = started[2]
    try:
        assert api.get("/healthz").status_code == 200
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        response = api.get("/healthz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
    finally:
        _stop(*started)


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page, read by prometheus_client's own parser: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_are_prometheus_text_with_task_node_and_request_counts(api: Api, db: Database) -> None:
    ids = add_tasks(db, 3)
    with db.transaction() as cur:
        mark_failed(cur, ids[0], 1, "HTTP 404", utcnow())

    def tasks_listed() -> float:
        found = sample(
            metric_samples(api.get("/metrics").text), "scraperq_api_requests_total", route="/api/tasks", method="GET",
            code="200",
        )  # fmt: skip
        return found or 0

    before = tasks_listed()
    api.get("/api/tasks")
    assert tasks_listed() == before + 1
    response = api.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = metric_samples(response.text)
    assert sample(samples, "scraperq_tasks", spider="generic", status="pending") == 2
    assert sample(samples, "scraperq_tasks", spider="generic", status="failed") == 1
    assert sample(samples, "scraperq_task_failures_total", spider="generic") == 1
    nodes = [labels for (name, labels), value in samples.items() if name == "scraperq_scrapyd_node_up" and value == 0]
    assert len(nodes) == 1 and re.fullmatch(r"http://127.0.0.1:\d+", dict(nodes[0])["node"])


def test_dashboard_is_one_self_contained_page_with_user_text_escaped(api: Api, db: Database) -> None:
    add_tasks(db, 1, prefix="https://example.com/<script>alert(1)</script>")
    api.post("/api/schedules", {"name": "nightly-books", "spider": "generic", "cron": "0 3 * * *"})
    response = api.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.text
    assert "nightly-books" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing loaded from elsewhere


def test_interactive_docs_are_served_with_their_files_from_this_server(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    files = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert files and all(f.startswith("/docs/") for f in files), files  # nothing from another site
    for path in files:
        asset = api.raw("GET", path)
        assert asset.status_code == 200, path
        assert len(asset.content) > 100
    script = api.raw("GET", "/docs/swagger-ui-bundle.js")
    assert script.headers["Content-Type"].startswith("text/javascript") and b"SwaggerUIBundle" in script.content
    assert api.raw("GET", "/docs/..%2Fapp.py").status_code in (400, 404)
    assert api.raw("GET", "/docs/swagger-editor.js").status_code in (400, 404)  # only the listed files


# -- tasks ------------------------------------------------------------------------------------


def test_post_tasks_queues_each_url_as_scraperq_enqueue_does(start_api: Any, redis_url: str) -> None:
    api = start_api(REDIS_URL=redis_url)
    urls = ["https://example.com/a", "https://example.org/b?q=1"]
    response = api.post("/api/tasks", {"urls": urls, "spider": "generic", "priority": 5})
    assert response.status_code == 201
    ids = response.json()["task_ids"]
    assert len(ids) == 2
    queued = redis.Redis.from_url(redis_url, decode_responses=True).lrange("generic:start_urls", 0, -1)
    # LPUSH puts the last URL first; workers take from the other end, in submission order.
    assert list(reversed(queued)) == [
        payload_json(url, task_id=task_id, priority=5) for url, task_id in zip(urls, ids, strict=True)
    ]
    task = api.get(f"/api/tasks/{ids[0]}").json()
    assert (task["status"], task["url"], task["priority"], task["source"]) == ("pending", urls[0], 5, "api")


def test_post_tasks_reports_every_invalid_url_and_queues_nothing(start_api: Any, redis_url: str) -> None:
    api = start_api(REDIS_URL=redis_url)
    urls = ["https://example.com/ok", "ftp://example.com/x", "not a url", "http://10.0.0.5/admin"]
    response = api.post("/api/tasks", {"urls": urls})
    assert response.status_code == 422
    details = response.json()["details"]
    assert [d["field"] for d in details] == ["urls[1]", "urls[2]", "urls[3]"]
    assert "only http and https" in details[0]["error"]
    assert details[2]["error"] == "blocked: 10.0.0.5 is a private address"
    assert redis.Redis.from_url(redis_url).llen("generic:start_urls") == 0
    assert api.get("/api/tasks").json()["tasks"] == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"spider": "generic"}, 400, "missing field 'urls'"),
        ({"urls": []}, 400, "non-empty array"),
        ({"urls": "https://example.com"}, 400, "non-empty array"),
        ({"urls": ["https://example.com"], "priority": "high"}, 400, "whole number"),
        ({"urls": ["https://example.com"], "colour": "red"}, 400, "unknown field 'colour'"),
        ({"urls": ["https://example.com"], "spider": "nosuchspider"}, 422, "unknown spider 'nosuchspider'"),
        ({"urls": ["https://example.com"], "priority": 10**9}, 422, "out of range"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_post_tasks_refuses_bad_input(api: Api, body: Any, status: int, words: str) -> None:
    response = api.post("/api/tasks", body)
    assert response.status_code == status
    assert words in error_of(response)


def test_post_tasks_refuses_bodies_that_are_not_json_or_too_large(api: Api) -> None:
    assert api.call("POST", "/api/tasks", data="{nope", headers={"Content-Type": "application/json"}).status_code == 400
    form = api.call("POST", "/api/tasks", data={"urls": "https://example.com"})
    assert form.status_code == 415
    big = {"urls": [f"https://example.com/{'x' * 100}/{i}" for i in range(1000)]}  # over the 64 KiB limit
    response = api.post("/api/tasks", big)
    assert response.status_code == 413
    assert "larger than the limit of 65536" in error_of(response)


def test_post_tasks_takes_ten_thousand_urls_at_once_and_no_more(start_api: Any, redis_url: str) -> None:
    from scheduler.api.config import DEFAULT_MAX_BODY

    api = start_api(REDIS_URL=redis_url, SCRAPERQ_API_MAX_BODY=str(DEFAULT_MAX_BODY))
    urls = [f"https://example.com/some/longer/path/{i}?ref=bulk" for i in range(10_000)]
    response = api.post("/api/tasks", {"urls": urls})
    assert response.status_code == 201
    ids = response.json()["task_ids"]
    assert len(set(ids)) == 10_000
    client = redis.Redis.from_url(redis_url)
    assert client.llen("generic:start_urls") == 10_000
    assert json.loads(client.lindex("generic:start_urls", 0)) == {"url": urls[-1], "task_id": ids[-1]}
    client.close()
    response = api.post("/api/tasks", {"urls": [*urls, "https://example.com/one-more"]})
    assert response.status_code == 413
    assert error_of(response) == "10001 URLs in one request; at most 10000"


def test_post_tasks_without_redis_is_refused_and_creates_no_task(api: Api) -> None:
    response = api.post("/api/tasks", {"urls": ["https://example.com/"]})
    assert response.status_code == 503
    assert "REDIS_URL is not set" in error_of(response)
    assert api.get("/api/tasks").json()["tasks"] == []


def test_list_tasks_filters_and_pages_newest_first(api: Api, db: Database) -> None:
    generic = add_tasks(db, 5)
    other = add_tasks(db, 2, spider="sitemap")
    with db.transaction() as cur:
        mark_failed(cur, generic[1], 3, "HTTP 500", utcnow())
    assert [t["id"] for t in api.get("/api/tasks?spider=sitemap").json()["tasks"]] == other[::-1]
    failed = api.get("/api/tasks?status=failed").json()["tasks"]
    assert [(t["id"], t["error"]) for t in failed] == [(generic[1], "HTTP 500")]
    seen, path = [], "/api/tasks?spider=generic&limit=2"
    while True:
        page = api.get(path).json()
        seen += [t["id"] for t in page["tasks"]]
        if page["next_before"] is None:
            break
        path = f"/api/tasks?spider=generic&limit=2&before={page['next_before']}"
    assert seen == generic[::-1]


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=5000", "limit=ten", "before=-3"])
def test_list_tasks_refuses_bad_query_parameters(api: Api, query: str) -> None:
    response = api.get(f"/api/tasks?{query}")
    assert response.status_code == 400
    assert "query parameter" in error_of(response)


def test_task_by_id_and_unknown_ids(api: Api, db: Database) -> None:
    (task_id,) = add_tasks(db, 1)
    assert api.get(f"/api/tasks/{task_id}").json()["url"] == "https://example.com/p0"
    assert error_of(api.get(f"/api/tasks/{task_id + 1}")) == f"no task with id {task_id + 1}"
    assert api.raw("GET", "/api/tasks/abc").status_code == 404
    assert api.raw("GET", f"/api/tasks/{2**64}").status_code == 404


# -- results ------------------------------------------------------------------------------------


def test_results_stream_as_jsonl_and_csv_exactly_as_the_cli_prints_them(api: Api, db: Database) -> None:
    (task_id,) = add_tasks(db, 1)
    add_results(db, task_id, 2500)  # more than one page of the keyset scan
    for fmt in ("jsonl", "csv"):
        response = api.get(f"/api/results?format={fmt}", stream=True)
        assert response.status_code == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"  # streamed, not built in memory
        cli = scraperq(db.url, "results", "--format", fmt)
        assert cli.returncode == 0, cli.stderr
        assert response.content.decode() == cli.stdout
    lines = api.get("/api/results").text.splitlines()
    assert len(lines) == 2500
    first = json.loads(lines[0])
    assert first["data"] == {"n": 0, "title": 'Title, "0"\n'}
    rows = list(csv.DictReader(io.StringIO(api.get("/api/results?format=csv").text)))
    assert rows[-1]["n"] == "2499"  # one column per item field


def test_results_filters_by_spider_task_and_time(api: Api, db: Database) -> None:
    first, second = add_tasks(db, 2)
    (third,) = add_tasks(db, 1, spider="sitemap")
    add_results(db, first, 2, at=utcnow() - timedelta(days=3))
    add_results(db, second, 3)
    add_results(db, third, 4, spider="sitemap")

    def count(query: str) -> int:
        return len(api.get(f"/api/results?{query}").text.splitlines())

    assert count("spider=sitemap") == 4
    assert count(f"task={first}") == 2
    assert count("since=24h") == 7
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert count(f"spider=generic&since={requests.utils.quote(since)}") == 3
    # An empty export is an empty body, which the document's validator would call missing.
    assert api.raw("GET", "/api/results?spider=nosuch").content == b""


@pytest.mark.parametrize("query", ["format=xml", "since=yesterday", "task=x"])
def test_results_refuse_bad_query_parameters(api: Api, query: str) -> None:
    assert api.get(f"/api/results?{query}").status_code == 400


# -- schedules ------------------------------------------------------------------------------------


def test_schedule_lifecycle_add_show_pause_resume_delete(api: Api) -> None:
    body = {
        "name": "books-daily",
        "spider": "generic",
        "cron": "30 6 * * *",
        "timezone": "Asia/Seoul",
        "args": {"url": "https://example.com/books"},
        "settings": {"DOWNLOAD_DELAY": "1"},
    }
    created = api.post("/api/schedules", body)
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/schedules/books-daily"
    schedule = created.json()
    fire = datetime.fromisoformat(schedule["next_fire_time"])
    assert (fire.hour, fire.minute) == (21, 30)  # 06:30 in Seoul is 21:30 UTC
    listed = api.get("/api/schedules").json()["schedules"]
    assert [(s["name"], s["state"], s["last_run"]) for s in listed] == [("books-daily", "active", None)]

    paused = api.call("PATCH", "/api/schedules/books-daily", json={"enabled": False}).json()
    assert (paused["state"], paused["next_fire_time"]) == ("paused", None)
    resumed = api.call("PATCH", "/api/schedules/books-daily", json={"enabled": True}).json()
    assert resumed["state"] == "active"
    assert datetime.fromisoformat(resumed["next_fire_time"]) > datetime.now(UTC)

    shown = api.get("/api/schedules/books-daily").json()
    assert (shown["args"], shown["settings"], shown["runs"]) == (body["args"], body["settings"], [])
    assert api.call("DELETE", "/api/schedules/books-daily").status_code == 204
    assert api.get("/api/schedules/books-daily").status_code == 404
    assert api.call("DELETE", "/api/schedules/books-daily").status_code == 404


def test_interval_schedule_and_duplicate_name(api: Api) -> None:
    body = {"name": "every-10m", "spider": "generic", "interval_seconds": 600, "enabled": False}
    created = api.post("/api/schedules", body).json()
    assert (created["interval_seconds"], created["cron"], created["state"]) == (600, None, "paused")
    duplicate = api.post("/api/schedules", body)
    assert duplicate.status_code == 409
    assert error_of(duplicate) == "a schedule named 'every-10m' already exists"


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"cron": "61 * * * *"}, 422, "invalid cron expression"),
        ({"cron": "0 0 30 2 *"}, 422, "never fires"),
        ({"cron": "0 0 * * *", "timezone": "Mars/Olympus"}, 422, "unknown time zone"),
        ({"spider": "nosuchspider"}, 422, "unknown spider"),
        ({"name": "bad name!"}, 422, "invalid schedule name"),
        ({"args": {"jobid": "x"}}, 422, "reserved by Scrapyd"),
        ({"settings": {"download_delay": "1"}}, 422, "upper case"),
        ({"cron": None, "interval_seconds": 0}, 422, "at least 1 second"),
        ({"cron": None, "interval_seconds": 60, "timezone": "UTC"}, 422, "applies to cron"),
        ({"interval_seconds": 60}, 400, "exactly one of"),
        ({"cron": None}, 400, "exactly one of"),
        ({"args": {"depth": 2}}, 400, "string values"),
        ({"enabled": "yes"}, 400, "true or false"),
        ({"owner": "me"}, 400, "unknown field 'owner'"),
    ],
)
def test_add_schedule_refuses_bad_input(api: Api, change: dict[str, Any], status: int, words: str) -> None:
    body = {"name": "s1", "spider": "generic", "cron": "0 * * * *", **change}
    response = api.post("/api/schedules", {k: v for k, v in body.items() if v is not None})
    assert response.status_code == status
    assert words in error_of(response)
    assert api.get("/api/schedules").json()["schedules"] == []


@pytest.mark.parametrize(
    ("args", "settings", "field", "words"),
    [
        # What a crawl would refuse at start is refused now, naming the field, and nothing is stored.
        ({"url": "not-a-url"}, {}, "args.url", "invalid URL 'not-a-url'"),
        ({"url": "https://example.com/", "depth": "2"}, {}, "args.depth", "nothing is followed with follow=none"),
        ({"url": "https://example.com/", "colour": "red"}, {}, "args.colour", "generic has no argument 'colour'"),
        ({"url": "https://example.com/", "follow": "everywhere"}, {}, "args.follow", "use one of"),
        ({"url": "https://example.com/"}, {"DOWNLOAD_DELAY": "soon"}, "settings.DOWNLOAD_DELAY", "not a number"),
        ({"url": "https://example.com/"}, {"ROBOTSTXT_OBEY": "maybe"}, "settings.ROBOTSTXT_OBEY", "use 1 or 0"),
        ({"url": "https://example.com/"}, {"DOWNLOAD_DELAYY": "1"}, "settings.DOWNLOAD_DELAYY", "did you mean"),
    ],
)
def test_a_schedule_the_crawl_would_refuse_is_422_naming_the_field(
    api: Api, args: dict[str, str], settings: dict[str, str], field: str, words: str
) -> None:
    body = {"name": "s1", "spider": "generic", "interval_seconds": 60, "args": args, "settings": settings}
    response = api.post("/api/schedules", body)

    assert response.status_code == 422
    assert error_of(response).startswith(f"{field}: ") and words in error_of(response)
    assert response.json()["details"][0]["field"] == field
    assert api.get("/api/schedules").json()["schedules"] == []


def test_patch_changes_every_field_and_keeps_the_schedule_and_its_history(api: Api, db: Database) -> None:
    body = {"name": "s1", "spider": "generic", "interval_seconds": 60, "args": {"url": "https://example.com/"}}
    created = api.post("/api/schedules", body).json()
    with db.transaction() as cur:  # a run on record, which must stay attached
        jobs.record_outcome(
            cur, schedule_id=created["id"], spider="generic", fire_time=utcnow(), status="missed", error="x"
        )
    change = {
        "cron": "30 6 * * 1-5",
        "timezone": "America/New_York",
        "args": {"follow": "same-host", "depth": "2"},
        "settings": {"DOWNLOAD_DELAY": "0.5"},
    }
    changed = api.call("PATCH", "/api/schedules/s1", json=change).json()

    assert changed["id"] == created["id"]
    assert (changed["cron"], changed["interval_seconds"], changed["timezone"]) == (
        "30 6 * * 1-5",
        None,
        "America/New_York",
    )
    assert changed["args"] == {"url": "https://example.com/", "follow": "same-host", "depth": "2"}
    fire = datetime.fromisoformat(changed["next_fire_time"]).astimezone(ZoneInfo("America/New_York"))
    assert fire.strftime("%a %H:%M") in {f"{d} 06:30" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")}, fire
    assert len(api.get("/api/schedules/s1").json()["runs"]) == 1

    unset = api.call("PATCH", "/api/schedules/s1", json={"args": {"depth": None}, "interval_seconds": 120}).json()
    assert unset["args"] == {"url": "https://example.com/", "follow": "same-host"}
    assert (unset["cron"], unset["interval_seconds"], unset["timezone"]) == (None, 120, "UTC")

    # Refused changes name the field and change nothing.
    for bad, name in (
        ({"args": {"follow": None, "depth": "2"}}, "args.depth"),
        ({"spider": "feed"}, "args.follow"),
        ({"cron": "0 0 31 2 *"}, "cron"),
        ({"timezone": "Europe/Berlin"}, "timezone"),
        ({"settings": {"CONCURRENT_REQUESTS": "lots"}}, "settings.CONCURRENT_REQUESTS"),
    ):
        refused = api.call("PATCH", "/api/schedules/s1", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["details"][0]["field"] == name
    kept = api.get("/api/schedules/s1").json()
    assert (kept["args"], kept["interval_seconds"], kept["settings"]) == (unset["args"], 120, {"DOWNLOAD_DELAY": "0.5"})
    assert api.call("PATCH", "/api/schedules/s1", json={"name": "s2"}).status_code == 400
    assert api.call("PATCH", "/api/schedules/s1", json={"enabled": 1}).status_code == 400
    assert api.call("PATCH", "/api/schedules/nosuch", json={"enabled": False}).status_code == 404


def test_run_now_without_a_leading_daemon_is_503_and_records_nothing(api: Api) -> None:
    api.post("/api/schedules", {"name": "s1", "spider": "generic", "interval_seconds": 3600})
    response = api.post("/api/schedules/s1/run")
    assert response.status_code == 503
    assert "no scheduler daemon is running" in error_of(response)
    assert api.get("/api/jobs").json()["jobs"] == []
    assert api.post("/api/schedules/nosuch/run").status_code in (404, 503)


def test_run_now_while_the_previous_run_is_active_is_409(api: Api, db: Database) -> None:
    from scraperq.storage import leader

    schedule = api.post("/api/schedules", {"name": "s1", "spider": "generic", "interval_seconds": 3600}).json()
    leader.beat(db, "elsewhere:1", utcnow())  # a daemon leads (on another machine)
    with db.transaction() as cur:
        jobs.claim(cur, schedule_id=schedule["id"], spider="generic", fire_time=utcnow(), job_id="a" * 32)
    response = api.post("/api/schedules/s1/run")
    assert response.status_code == 409
    assert "still busy" in error_of(response)


def test_run_now_dispatches_to_a_scrapyd_node_and_shows_in_jobs(
    start_api: Any, scrapyd: list[Any], mockserver: Any
) -> None:
    api = start_api(loop=True, SCRAPYD_NODES=",".join(node.url for node in scrapyd))

    def nodes_up() -> list | None:
        # The daemon's first look at each node (listspiders.json) makes Scrapyd build its spider list,
        # during which it answers nothing: wait that out.
        found = [(n["name"], n["up"]) for n in api.get("/api/nodes").json()["nodes"]]
        return found if all(up for _, up in found) else None

    nodes = wait_for(nodes_up, timeout=60, interval=1, message="the nodes to answer")
    assert nodes == [(node.name, True) for node in scrapyd]  # no credentials shown
    args = {"url": mockserver("/")}
    api.post("/api/schedules", {"name": "home", "spider": "generic", "interval_seconds": 86400, "args": args})
    response = api.post("/api/schedules/home/run")
    assert response.status_code == 202, response.text
    requested = response.json()["run"]
    assert (requested["origin"], requested["status"], requested["spider"]) == ("manual", "requested", "generic")

    def dispatched() -> dict | None:
        found = api.get("/api/jobs?schedule=home").json()["jobs"]
        return found[0] if found and found[0]["node"] else None

    run = wait_for(dispatched, timeout=10, message="the leading daemon to dispatch the run")
    assert run["scrapyd_job_id"] == requested["scrapyd_job_id"]
    # The dispatch was timed, from the request to the node's acceptance, in the metrics' histogram.
    timed = metric_samples(api.get("/metrics").text)
    assert sample(timed, "scraperq_dispatch_latency_seconds_count") == 1
    assert sample(timed, "scraperq_dispatch_latency_seconds_sum") > 0
    assert run["node"] in {node.name for node in scrapyd}
    node = next(n for n in scrapyd if n.name == run["node"])
    wait_for(
        lambda: any(
            job["id"] == run["scrapyd_job_id"]
            for state in ("pending", "running", "finished")
            for job in node.call("listjobs.json?project=scraperq")[state]
        ),
        timeout=30,
        message="the job on the node",
    )
    listed = api.get("/api/jobs?schedule=home").json()["jobs"]
    assert [(j["id"], j["schedule"]) for j in listed] == [(run["id"], "home")]
    assert api.get("/api/jobs?schedule=nosuch").status_code == 404


def test_jobs_started_on_scrapyd_directly_are_in_the_history_with_counts_and_errors_in_words(
    api: Api, scrapyd: list[Any], mockserver: Any
) -> None:
    node = scrapyd[1]
    ok = node.call("schedule.json", project="scraperq", spider="generic", url=mockserver("/article"))["jobid"]
    bad = node.call("schedule.json", project="scraperq", spider="generic", url="not-a-url")["jobid"]

    def ended(job_id: str) -> dict | None:
        found = [j for j in api.get("/api/jobs").json()["jobs"] if j["scrapyd_job_id"] == job_id]
        return found[0] if found and found[0]["status"] in ("finished", "failed") else None

    done = wait_for(lambda: ended(ok), timeout=90, interval=0.5, message="the direct job to end")
    assert (done["origin"], done["schedule"], done["status"], done["finish_reason"]) == (
        "scrapyd",
        None,
        "finished",
        "finished",
    )
    assert (done["item_count"], done["task_count"], done["tasks_failed"]) == (1, 1, 0)
    assert done["pages"] >= 1 and done["host"] and done["pid"]

    refused = wait_for(lambda: ended(bad), timeout=90, interval=0.5, message="the job that cannot start")
    assert refused["status"] == "failed"
    assert refused["error"].startswith("-a url='not-a-url': invalid URL 'not-a-url'")
    log = (node.folder / "logs" / "scraperq" / "generic" / f"{bad}.log").read_text()
    assert "The crawl did not start: -a url='not-a-url': invalid URL 'not-a-url'" in log
    assert "invalid URL &#x27;not-a-url&#x27;" in api.get("/").text  # the dashboard says it too, escaped


# -- routing errors ---------------------------------------------------------------------------------


def test_unknown_routes_and_methods_are_json_errors(api: Api) -> None:
    missing = api.raw("GET", "/api/nothing")
    assert missing.status_code == 404
    assert "no such route" in error_of(missing)
    wrong = api.raw("PUT", "/api/tasks")
    assert wrong.status_code == 405
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert "use GET, POST" in error_of(wrong)


# -- the token --------------------------------------------------------------------------------------


def _example_path(path: str) -> str:
    return (
        path.replace("{task_id}", "1")
        .replace("{run_id}", "1")
        .replace("{name}", "s1")
        .replace("{filename}", "console.css")
    )


def test_with_a_token_every_route_but_healthz_needs_it(start_api: Any) -> None:
    served = start_api(SCRAPERQ_API_TOKEN=TOKEN)
    anonymous = Api(served.url, served.db)
    for route in ROUTES:
        response = anonymous.call(route.method, _example_path(route.path), json={} if route.takes_body else None)
        if route.public:
            assert response.status_code == 200, route
            continue
        assert response.status_code == 401, route
        assert error_of(response).startswith("missing API token")
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("Basic" if route.path == "/" else "Bearer"), route
    # Not even the existence of a path is told without the token.
    assert anonymous.raw("GET", "/api/nothing").status_code == 401
    assert anonymous.raw("DELETE", "/api/tasks").status_code == 401


def test_the_right_token_opens_the_api_and_the_dashboard(start_api: Any) -> None:
    served = start_api(SCRAPERQ_API_TOKEN=TOKEN)
    assert served.get("/api/tasks").status_code == 200
    wrong = Api(served.url, served.db, token=TOKEN + "x").get("/api/tasks")
    assert (wrong.status_code, error_of(wrong)) == (401, "wrong API token")
    browser = requests.Session()
    browser.trust_env = False
    assert browser.get(served.url + "/", auth=("anyone", TOKEN), timeout=30).status_code == 200
    assert browser.get(served.url + "/", auth=("anyone", "guess"), timeout=30).status_code == 401
    # Only the Authorization header counts: a token in the URL would end up in logs.
    assert browser.get(f"{served.url}/api/tasks?token={TOKEN}", timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("bind", "allowed"),
    [
        ("127.0.0.1:6810", True),
        ("127.0.0.2:80", True),
        ("[::1]:6810", True),
        ("localhost:6810", True),
        ("0.0.0.0:6810", False),
        ("[::]:6810", False),
        ("192.168.1.10:6810", False),
        ("scheduler.internal:6810", False),
    ],
)
def test_a_token_is_required_to_bind_off_loopback(bind: str, allowed: bool) -> None:
    from scheduler.api.config import ApiConfig
    from scraperq.errors import ConfigError

    settings = {"SCRAPERQ_API_BIND": bind}
    if allowed:
        assert ApiConfig.from_settings(settings).token is None
    else:
        with pytest.raises(ConfigError, match="SCRAPERQ_API_TOKEN must be set"):
            ApiConfig.from_settings(settings)
        config = ApiConfig.from_settings({**settings, "SCRAPERQ_API_TOKEN": TOKEN})
        assert config.token == TOKEN and TOKEN not in repr(config)


@pytest.mark.parametrize("bind", ["6810", "127.0.0.1", "::1:6810", "127.0.0.1:99999", "127.0.0.1:http"])
def test_a_malformed_bind_is_a_config_error(bind: str) -> None:
    from scheduler.api.config import ApiConfig
    from scraperq.errors import ConfigError

    with pytest.raises(ConfigError, match="SCRAPERQ_API_BIND"):
        ApiConfig.from_settings({"SCRAPERQ_API_BIND": bind})


# -- dead letters -----------------------------------------------------------------------------


def test_dead_letters_are_listed_requeued_and_purged(start_api: Any, redis_url: str) -> None:
    from tests.test_dead import HOSTILE, refuse

    client = redis.Redis.from_url(redis_url)
    refuse(client, "generic", "not a url", HOSTILE)
    refuse(client, "books", '{"url": "https://example.com/", "meta": {"depth": -5}}')
    api = start_api(REDIS_URL=redis_url)
    listed = api.get("/api/dead").json()
    assert [x["spider"] for x in listed["dead"]] == ["books", "generic", "generic"]
    assert listed["dead"][0]["reason"] == "payload meta 'depth' must be a whole number from 0 to 100"
    page = api.get("/api/dead?spider=generic&limit=1").json()
    assert page["next_offset"] == 1 and len(page["dead"]) == 1
    [hostile] = [x for x in listed["dead"] if "red" in x["payload"]]

    done = api.post("/api/dead", {"action": "requeue", "ids": [hostile["id"]]})
    assert done.status_code == 200
    assert (done.json()["done"], done.json()["by_spider"]) == (1, {"generic": 1})
    assert client.lrange("generic:start_urls", 0, -1) == [HOSTILE]
    assert api.post("/api/dead", {"action": "requeue", "ids": [hostile["id"]]}).status_code == 404  # once only

    done = api.post("/api/dead", {"action": "purge", "spider": "books"}).json()
    assert done["by_spider"] == {"books": 1}
    assert [x["spider"] for x in api.get("/api/dead").json()["dead"]] == ["generic"]
    for bad in ({"action": "burn"}, {"action": "purge", "ids": ["zz"]}, {"action": "purge", "extra": 1}):
        assert api.post("/api/dead", bad).status_code == 400
    client.close()


def test_dead_letters_without_redis_are_503(api: Api) -> None:
    response = api.get("/api/dead")
    assert response.status_code == 503
    assert "REDIS_URL is not set" in error_of(response)


# -- cancel, log, queues, dead letters ------------------------------------------------------------


def test_cancel_a_requested_run_before_dispatch_and_refuse_what_is_over(api: Api, db: Database) -> None:
    from scraperq.storage import leader

    schedule = api.post("/api/schedules", {"name": "s1", "spider": "generic", "interval_seconds": 3600}).json()
    leader.beat(db, "elsewhere:1", utcnow())  # a daemon leads elsewhere: the request waits for it
    run = api.post("/api/schedules/s1/run").json()["run"]
    response = api.post(f"/api/jobs/{run['id']}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run"]["status"], body["node"], body["prevstate"]) == ("cancelled", None, None)
    assert "cancelled on request" in body["run"]["error"]
    assert [j["status"] for j in api.get("/api/jobs?status=cancelled").json()["jobs"]] == ["cancelled"]
    again = api.post(f"/api/jobs/{run['id']}/cancel")
    assert (again.status_code, error_of(again)) == (
        409,
        f"job run {run['id']} is cancelled already: only a requested, pending or running run can stop",
    )
    with db.transaction() as cur:  # a fire time skipped: there is nothing to stop
        jobs.record_outcome(
            cur, schedule_id=schedule["id"], spider="generic", fire_time=utcnow(), status="skipped", error="busy"
        )
    skipped = api.get("/api/jobs?status=skipped").json()["jobs"][0]
    assert api.post(f"/api/jobs/{skipped['id']}/cancel").status_code == 409
    assert api.get(f"/api/jobs/{skipped['id']}/log").status_code == 404
    assert api.post("/api/jobs/999999/cancel").status_code == 404
    assert api.get("/api/jobs/999999/log").status_code == 404


def test_cancel_a_run_whose_node_is_down_is_503_and_records_nothing(api: Api, db: Database) -> None:
    schedule = api.post("/api/schedules", {"name": "s1", "spider": "generic", "interval_seconds": 3600}).json()
    with db.transaction() as cur:
        run_id = jobs.claim(cur, schedule_id=schedule["id"], spider="generic", fire_time=utcnow(), job_id="b" * 32)
    node = api.get("/api/nodes").json()["nodes"][0]["name"]  # nobody listens there
    jobs.mark_accepted(db, run_id, node=node, at=utcnow())
    response = api.post(f"/api/jobs/{run_id}/cancel")
    assert response.status_code == 503
    assert "cannot cancel job " + "b" * 32 in error_of(response)
    assert jobs.get_run(db, run_id).status == "pending"
    assert api.get(f"/api/jobs/{run_id}/log").status_code == 503


def test_jobs_filter_by_status_and_spider_and_page(api: Api, db: Database) -> None:
    schedule = api.post("/api/schedules", {"name": "s1", "spider": "generic", "interval_seconds": 60}).json()
    with db.transaction() as cur:
        for minute in range(5):
            jobs.record_outcome(
                cur,
                schedule_id=schedule["id"],
                spider="generic",
                status="missed",
                error="late",
                fire_time=utcnow() - timedelta(minutes=minute),
            )
    page = api.get("/api/jobs?status=missed&limit=3").json()
    assert len(page["jobs"]) == 3 and page["next_before"] == page["jobs"][-1]["id"]
    rest = api.get(f"/api/jobs?status=missed&limit=3&before={page['next_before']}").json()
    assert len(rest["jobs"]) == 2 and rest["next_before"] is None
    assert api.get("/api/jobs?spider=sitemap").json()["jobs"] == []
    assert api.get("/api/jobs?status=done").status_code == 400


def test_queues_count_what_waits_and_what_is_dead(start_api: Any, redis_url: str) -> None:
    api = start_api(REDIS_URL=redis_url)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    letters = [json.dumps({"payload": f"https://example.com/{i}", "reason": "bad", "spider": "feed"}) for i in range(3)]
    client.lpush("feed:dead", *letters)
    client.lpush("feed:start_urls", "https://example.com/waiting")
    queues = {q["spider"]: q for q in api.get("/api/queues").json()["queues"]}
    assert (queues["feed"]["dead"], queues["feed"]["start_urls"], queues["generic"]["dead"]) == (3, 1, 0)
    moved = api.post("/api/dead", {"action": "requeue", "spider": "feed"}).json()
    assert moved["done"] == 3
    queues = {q["spider"]: q for q in api.get("/api/queues").json()["queues"]}
    assert (queues["feed"]["dead"], queues["feed"]["start_urls"]) == (0, 4)
    assert sorted(client.lrange("feed:start_urls", 0, -1)) == sorted(
        ["https://example.com/waiting"] + [f"https://example.com/{i}" for i in range(3)]
    )


def test_queues_without_redis_say_so_and_dead_letters_need_it(api: Api) -> None:
    assert api.get("/api/queues").json() == {"redis": "not set", "queues": []}
    assert api.get("/api/dead").status_code == 503


def test_console_panels_are_served_alone_and_static_files_are_only_those_shipped(api: Api, db: Database) -> None:
    add_tasks(db, 30, spider="sitemap")
    panel = api.get("/?part=tasks&tasks_spider=sitemap")
    assert panel.status_code == 200 and "<html" not in panel.text
    assert panel.text.count("<tr>") == 1 + 25 and "tasks_before=" in panel.text  # a header, a page, a link on
    assert api.get("/?part=nosuch").status_code == 400
    assert api.get("/?part=tasks&tasks_before=x").status_code == 400
    script = api.get("/static/console.js")
    assert script.headers["Content-Type"].startswith("text/javascript") and script.headers["ETag"]
    assert api.raw("GET", "/static/console.js", headers={"If-None-Match": script.headers["ETag"]}).status_code == 304
    assert api.get("/static/..%2Fapp.py").status_code == 404
    assert api.raw("GET", "/static/../app.py").status_code == 404
