"""Source files: loaded as spiders of their own, and refused at load time when they are wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scraperq.sources.schema import SourceError, spider_class_from_yaml
from tests.helpers import crawl_env, scrapy

GOOD = """
description: A small local news site.
base_url: https://local.example.org/
categories: {Nord: nord/}
item_links: h2 a
fields:
  title: {css: h1, required: true}
"""


def scrapy_list(sources_dir: Path) -> Any:
    env = crawl_env("sqlite:///unused.sqlite3", SCRAPERQ_SOURCES_DIR=str(sources_dir))
    return scrapy(["list"], env)


def test_scrapy_list_shows_python_spiders_packaged_sources_and_extra_sources(tmp_path: Path) -> None:
    (tmp_path / "local_news.yaml").write_text(GOOD)
    proc = scrapy_list(tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert {"generic", "feed", "sitemap", "jsonapi", "example_news", "example_bestsellers", "local_news"} <= set(names)


def test_a_broken_file_is_refused_with_file_field_and_reason_and_the_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "local_news.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(GOOD.replace("css: h1,", "css: 'h1[',"))
    proc = scrapy_list(tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "local_news" in names and "generic" in names and "example_bestsellers" in names
    assert "broken" not in names
    assert f"{tmp_path / 'broken.yaml'}: fields.title.css: not a valid CSS selector" in proc.stderr


def test_a_source_cannot_take_the_name_of_another_spider(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("name: generic\n" + GOOD)
    proc = scrapy_list(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split().count("generic") == 1
    assert f"{tmp_path / 'mine.yaml'}: name: 'generic' is already the spider of scraperq.spiders.generic" in proc.stderr


def test_a_missing_sources_folder_is_reported_and_the_spiders_still_load(tmp_path: Path) -> None:
    proc = scrapy_list(tmp_path / "nowhere")
    assert proc.returncode == 0
    assert "generic" in proc.stdout.split()
    assert f"{tmp_path / 'nowhere'}: SCRAPERQ_SOURCES_DIR: not a folder" in proc.stderr


MISTAKES = [
    ("start_urls: [1", "line 1", "not valid YAML"),
    ("- just\n- a list", "(file)", "must be a mapping"),
    (GOOD + "colour: blue\n", "colour", "not a key of html sources"),
    (GOOD.replace("base_url: https://local.example.org/\n", ""), "categories.Nord", "a path needs base_url"),
    (GOOD.replace("fields:", "fieldz:"), "fieldz", "not a key"),
    (GOOD + "  byline: {xpath: '//span['}\n", "fields.byline.xpath", "not a valid XPath expression"),
    (GOOD + "  byline: {css: .by, many: yes please}\n", "fields.byline.many", "must be true or false"),
    (GOOD + "  byline: {css: .by, path: by}\n", "fields.byline.path", "reads fields with css or xpath"),
    (GOOD + "  2nd: h2\n", "fields.2nd", "a field name is letters"),
    (GOOD + "pagination: {allow: '(unclosed'}\n", "pagination.allow", "not a regular expression"),
    (GOOD + "pagination: {follow: yes}\n", "pagination.follow", "not a link rule key"),
    (GOOD + "render: sometimes\n", "render", "use never, auto or always"),
    (GOOD + "max_pages: 0\n", "max_pages", "1 or more"),
    (GOOD + "politeness: {download_delay: -1}\n", "politeness.download_delay", "0 or more"),
    (GOOD + "politeness: {speed: fast}\n", "politeness.speed", "not a politeness key"),
    (GOOD + "politeness: {sites: {a.example: {delay: -2}}}\n", "politeness.sites", "a mapping of sites"),
    (GOOD + "settings: {SCRAPERQ_ALLOW_PRIVATE: '1'}\n", "settings.SCRAPERQ_ALLOW_PRIVATE", "may change"),
    (GOOD + "settings: {ITEM_PIPELINES: {}}\n", "settings.ITEM_PIPELINES", "may change"),
    (GOOD + "settings: {DOWNLOAD_TIMEOUT: soon}\n", "settings.DOWNLOAD_TIMEOUT", "must be a number"),
    ("name: 'my source'\n" + GOOD, "name", "not a spider name"),
    ("kind: rss\nstart_urls: [https://x.example/]", "kind", "not a kind of source"),
    ("kind: feed\n", "start_urls", "needs the feeds' URLs"),
    ("kind: sitemap\nstart_urls: [https://x.example/s.xml]\nargs: {since: yesterday}", "args.since", "ISO date"),
    ("kind: feed\nstart_urls: [https://x.example/f.xml]\nargs: {follow: often}", "args.follow", "use 1 or 0"),
    ("kind: feed\nstart_urls: [https://x.example/f.xml]\nargs: {text: all}", "args.text", "use one of main"),
    ("kind: feed\nstart_urls: [https://x.example/f.xml]\nargs: {depth: 2}", "args.depth", "not an argument"),
    ("kind: jsonapi\nstart_urls: [https://x.example/api]\nargs: {paginate: sideways}", "args.paginate", "use one of"),
    ("kind: jsonapi\nstart_urls: [https://x.example/api]\nargs: {item_path: 'a.['}", "args.item_path", "JMESPath"),
    ("kind: jsonapi\nstart_urls: [https://x.example/api]\nargs: {key_header: X-Key}", "args.key_header", "key_env"),
    ("kind: jsonapi\nstart_urls: [https://x.example/api]\nfields: {t: {css: h1}}", "fields.t.css", "with path"),
]


@pytest.mark.parametrize(("text", "field", "reason"), MISTAKES, ids=[m[1] for m in MISTAKES])
def test_each_kind_of_mistake_names_its_field_and_reason(text: str, field: str, reason: str) -> None:
    with pytest.raises(SourceError) as caught:
        spider_class_from_yaml(text, file="city.yaml", stem="city")
    assert caught.value.file == "city.yaml"
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"city.yaml: {field}: ")


def test_a_jsonapi_source_keeps_its_arguments_and_the_command_line_overrides_them() -> None:
    spidercls = spider_class_from_yaml(
        "kind: jsonapi\nstart_urls: ['https://x.example/api?page={page}']\n"
        "args: {item_path: data.rows, max_pages: 3}\nfields: {t: title}\n",
        file="api.yaml",
        stem="api",
    )
    spider = spidercls(max_pages="5")
    assert (spider.name, spider.options.item_path, spider.options.max_pages) == ("api", "data.rows", 5)


def test_a_feed_source_follows_its_entries_with_its_arguments(tmp_path: Path) -> None:
    """A feed source with follow: 1 runs like scrapy crawl feed -a follow=1: each entry's page, merged."""
    from tests.helpers import MockServer
    from tests.source_helpers import crawl_with, crawled_ok, stored

    server = MockServer()
    try:
        (tmp_path / "valley.yaml").write_text(
            f"kind: feed\nstart_urls: ['{server('/feeds/atom-base.xml')}']\nargs: {{follow: 1, allow: sport-1-1}}\n"
        )
        database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
        crawled_ok(crawl_with(database, "valley", SCRAPERQ_SOURCES_DIR=str(tmp_path)))
        [task], [result] = stored(database)
    finally:
        server.stop()
    assert (task["spider"], task["status"]) == ("valley", "completed")
    assert (result["data"]["url"], result["data"]["entry"]["title"]) == (
        server("/news/story/sport-1-1.html"),
        "Derby day",
    )
