"""Where DATABASE_URL comes from: command-line setting, then environment, then the default."""

from __future__ import annotations

from pathlib import Path

from scrapy.settings import Settings

from scraperq.storage import database_url, default_database_url, open_database
from scraperq.storage.tasks import NewTask, create_tasks, list_tasks
from tests.helpers import crawl_env, scrapy


def test_setting_beats_environment_and_environment_beats_default(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/from-env.sqlite3")
    assert database_url(Settings({"DATABASE_URL": "sqlite:////tmp/from-setting.sqlite3"})) == (
        "sqlite:////tmp/from-setting.sqlite3"
    )
    assert database_url(Settings()) == "sqlite:////tmp/from-env.sqlite3"
    monkeypatch.delenv("DATABASE_URL")
    assert database_url(None) == default_database_url()


def test_crawl_with_dash_s_database_url_writes_there_not_to_the_environment_database(
    tmp_path: Path, mockserver
) -> None:
    env_db = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    cli_db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    with open_database(env_db) as db:
        create_tasks(db, [NewTask(spider="generic", url="http://127.0.0.1/earlier")])
    args = ["crawl", "generic", "-a", f"url={mockserver('/article')}"]
    proc = scrapy([*args, "-s", f"DATABASE_URL={cli_db}"], crawl_env(env_db))
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open_database(cli_db) as db:
        assert [t["status"] for t in list_tasks(db)] == ["completed"]
    with open_database(env_db) as db:
        assert [t["url"] for t in list_tasks(db)] == ["http://127.0.0.1/earlier"]
