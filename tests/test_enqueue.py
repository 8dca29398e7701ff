"""``scraperq enqueue``: every URL checked first, tasks created, payloads queued, ids printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from scraperq.storage import open_database
from scraperq.storage.tasks import get_task, list_tasks
from tests.helpers import scraperq

KEY = "generic:start_urls"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def queued(r: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(p) for p in reversed(r.lrange(KEY, 0, -1))]  # in the order workers take them


def test_urls_become_pending_tasks_and_payloads_with_their_ids(pg_url: str, redis_url: str, r: redis.Redis) -> None:
    done = scraperq(
        pg_url,
        "enqueue",
        "https://example.com/a",
        "https://example.org/b",
        "--priority",
        "7",
        "--file",
        "-",
        stdin="# more\nhttps://example.net/c\n\n",
        REDIS_URL=redis_url,
    )
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    assert len(ids) == 3
    assert queued(r) == [
        {"url": "https://example.com/a", "task_id": ids[0], "priority": 7},
        {"url": "https://example.org/b", "task_id": ids[1], "priority": 7},
        {"url": "https://example.net/c", "task_id": ids[2], "priority": 7},
    ]
    with open_database(pg_url) as db:
        task = get_task(db, ids[2])
    assert (task["spider"], task["url"], task["status"], task["priority"]) == (
        "generic",
        "https://example.net/c",
        "pending",
        7,
    )


def test_one_bad_url_queues_nothing(pg_url: str, redis_url: str, r: redis.Redis) -> None:
    done = scraperq(
        pg_url, "enqueue", "https://example.com/ok", "--file", "-", stdin="https://example.com/2\nnot a url\n",
        REDIS_URL=redis_url,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "scraperq: error: line 2 of standard input: invalid URL 'not a url': contains whitespace or control characters"
    )
    assert r.llen(KEY) == 0
    with open_database(pg_url) as db:
        assert list_tasks(db) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://example.com/", "--spider", "nosuch"], "scraperq: error: unknown spider 'nosuch': this project has"),
        (["http://192.168.1.1/router"], "scraperq: error: argument 1: blocked: 192.168.1.1 is a private address"),
        (["https://example.com/", "--priority", "high"], "scraperq: error: --priority 'high' is not a whole number"),
        ([], "scraperq: error: no URLs"),
    ],
)
def test_refusals_are_one_line(pg_url: str, redis_url: str, r: redis.Redis, args: list[str], message: str) -> None:
    done = scraperq(pg_url, "enqueue", *args, REDIS_URL=redis_url)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    assert r.llen(KEY) == 0


def test_without_redis_url_it_says_what_to_set(pg_url: str) -> None:
    done = scraperq(pg_url, "enqueue", "https://example.com/")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "scraperq: error: REDIS_URL is not set: set it to the shared queue, e.g. redis://127.0.0.1:6379/0"
    )


def test_an_unreachable_redis_is_one_line_and_creates_no_tasks(pg_url: str) -> None:
    done = scraperq(pg_url, "enqueue", "https://example.com/", REDIS_URL="redis://127.0.0.1:1/0")
    assert done.returncode == 2
    assert done.stderr.startswith("scraperq: error: cannot connect to Redis at redis://127.0.0.1:1/0")
    with open_database(pg_url) as db:
        assert list_tasks(db) == []


def test_thousands_of_urls_in_one_call(db_url: str, redis_url: str, r: redis.Redis) -> None:
    """More than one step (10,000 URLs) of COPY on PostgreSQL, of multi-row inserts on SQLite."""
    urls = "".join(f"https://example.com/page/{i}\n" for i in range(12_000))
    done = scraperq(db_url, "enqueue", "--file", "-", stdin=urls, REDIS_URL=redis_url)
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    assert len(ids) == len(set(ids)) == 12_000
    assert r.llen(KEY) == 12_000
    last = json.loads(r.lindex(KEY, 0))
    assert last == {"url": "https://example.com/page/11999", "task_id": ids[-1]}
    with open_database(db_url) as db:
        by_id = {t["id"]: t["url"] for t in list_tasks(db, status="pending", limit=20_000)}
    assert [by_id[i] for i in ids[::1000]] == [f"https://example.com/page/{i}" for i in range(0, 12_000, 1000)]


def test_a_file_with_bad_lines_and_duplicates_is_summed_up_in_one_line(
    pg_url: str, redis_url: str, r: redis.Redis, tmp_path: Any
) -> None:
    lines = ["https://example.com/1", "not a url", "https://example.com/2", "https://example.com/1", "ftp://x/"]
    source = tmp_path / "urls.txt"
    source.write_text("\n".join(lines) + "\n")
    ids_file = tmp_path / "ids.txt"
    done = scraperq(
        pg_url, "enqueue", "--file", str(source), "--skip-invalid", "--ids-output", str(ids_file), REDIS_URL=redis_url
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the ids went to the file
    [line] = done.stderr.splitlines()  # not a terminal: no bar, one line
    assert line.startswith("queued 2 URLs for generic in ")
    assert f"refused 2 (line 2 of {source}: invalid URL 'not a url'" in line
    assert f"line 5 of {source}: invalid URL 'ftp://x/': scheme 'ftp'" in line
    assert line.endswith("1 duplicate in the input, queued once")
    first, second, again = (int(x) for x in ids_file.read_text().split())
    assert again == first != second  # one id per valid line, a repeated URL repeating its id
    assert [p["url"] for p in queued(r)] == ["https://example.com/1", "https://example.com/2"]


def test_a_terminal_gets_a_progress_bar(pg_url: str, redis_url: str, r: redis.Redis) -> None:
    import fcntl
    import os
    import struct
    import subprocess
    import termios

    from tests.helpers import BIN, ROOT, crawl_env

    primary, secondary = os.openpty()  # standard error is a terminal, as when a person runs it
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # of 100 columns
    urls = "".join(f"https://example.com/p/{i}\n" for i in range(3_000))
    proc = subprocess.run(
        [str(BIN / "scraperq"), "enqueue", "--file", "-"],
        cwd=ROOT,
        env=crawl_env(pg_url, REDIS_URL=redis_url),
        input=urls.encode(),
        stdout=subprocess.PIPE,
        stderr=secondary,
        timeout=120,
        check=False,
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other end is closed: all of it was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert len(proc.stdout.split()) == 3_000
    text = shown.decode()
    assert "3000/3000" in text and " URLs" in text  # tqdm's count, drawn as it went
    assert "queued 3,000 URLs for generic in " in text
    assert r.llen(KEY) == 3_000
