"""The installed ``scrapy`` and ``scraperq`` executables, started the way a user starts them.

The rest of the suite runs ``scraperq`` in-process and ``scrapy`` in processes forked from a
server that has done the imports (tests/helpers.py); these few tests keep the real thing honest:
the README's first crawl on the embedded default, exit statuses and one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import BIN, MockServer, crawl_env, run


def user_env(tmp_path: Path) -> dict[str, str]:
    """A crawl environment without DATABASE_URL, whose data folder is this test's."""
    env = crawl_env("unused", XDG_DATA_HOME=str(tmp_path / "data"))
    del env["DATABASE_URL"]
    return env


def test_the_readme_first_crawl_stores_on_the_embedded_default_and_prints_results(
    tmp_path: Path, mockserver: MockServer
) -> None:
    env = user_env(tmp_path)
    url = mockserver("/article")

    crawled = run([str(BIN / "scrapy"), "crawl", "generic", "-a", f"url={url}"], env)
    shown = run([str(BIN / "scraperq"), "results", "--format", "jsonl"], env)

    assert crawled.returncode == 0, crawled.stderr[-3000:]
    assert "Traceback" not in crawled.stderr
    assert (shown.returncode, shown.stderr) == (0, "")
    [result] = [json.loads(line) for line in shown.stdout.splitlines()]
    assert (result["url"], result["data"]["title"]) == (url, "River levels rise in the valley")
    assert (tmp_path / "data" / "scraperq" / "scraperq.sqlite3").is_file()


def test_scraperq_bad_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    refused = run([str(BIN / "scraperq"), "tasks", "--limit", "0"], user_env(tmp_path))
    unknown = run([str(BIN / "scraperq"), "tasks", "--bogus"], user_env(tmp_path))

    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == "scraperq: error: --limit must be 1 or more\n"
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == "scraperq: error: unrecognized arguments: --bogus\n"


def test_scrapy_crawl_bad_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    done = run([str(BIN / "scrapy"), "crawl", "generic", "-a", "url=notaurl"], user_env(tmp_path))

    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("scrapy crawl: error: ")
    assert "invalid URL 'notaurl'" in last_line
