"""Spider arguments, declared once (scraperq/spiders/arguments.py) and checked the same way everywhere."""

from __future__ import annotations

import sys

import pytest

from scraperq.arguments import ArgumentError, split_urls
from scraperq.errors import BadInput
from scraperq.spiders.arguments import GENERIC, JSONAPI, KINDS, SPIDERS
from tests.helpers import BIN, ROOT, run, scrapy


def test_urls_argument_splits_on_whitespace_and_commas_before_a_url() -> None:
    assert split_urls("http://a.test/x?ids=1,2,http://b.test/ https://c.test/\nhttp://d.test") == [
        "http://a.test/x?ids=1,2",
        "http://b.test/",
        "https://c.test/",
        "http://d.test",
    ]


def test_int_argument_names_the_argument_when_malformed() -> None:
    with pytest.raises(BadInput, match=r"-a depth='two': not a whole number"):
        GENERIC.parse({"depth": "two", "follow": "same-host"}, spider="generic")
    with pytest.raises(BadInput, match="at least 0"):
        GENERIC.parse({"depth": "-1"}, spider="generic")


def test_values_come_back_typed_with_the_declared_defaults() -> None:
    values = GENERIC.parse({"url": " https://example.com/ ", "follow": "Same-Host", "depth": "2"}, spider="generic")

    assert values["url"] == "https://example.com/"
    assert (values["follow"], values["depth"], values["render"], values["allow"]) == ("same-host", 2, "never", None)


def test_an_unknown_argument_is_refused_with_the_spiders_argument_list() -> None:
    with pytest.raises(ArgumentError) as caught:
        GENERIC.parse({"colour": "red"}, spider="generic")

    assert caught.value.name == "colour"
    assert str(caught.value) == (
        "-a colour='red': generic has no argument 'colour' (its arguments: url, urls, worker, only_new, refresh,"
        " follow, depth, allow, render, text)"
    )


@pytest.mark.parametrize(
    ("given", "name", "reason"),
    [
        ({"depth": "2"}, "depth", "nothing is followed with follow=none"),
        ({"allow": "/news/"}, "allow", "nothing is followed with follow=none"),
        ({"worker": "1", "url": "https://example.com/"}, "worker", "takes its URLs from the queue"),
    ],
)
def test_rules_between_arguments_name_the_argument_to_change(given: dict, name: str, reason: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        GENERIC.parse(given, spider="generic")
    assert caught.value.name == name and reason in caught.value.reason


def test_a_source_files_args_count_as_given_for_the_rules() -> None:
    values = JSONAPI.parse({"key_header": "X-Key"}, spider="books", defaults={"key_env": "BOOKS_KEY"})

    assert (values["key_env"], values["key_header"]) == ("BOOKS_KEY", "X-Key")


def test_the_declarations_read_without_scrapy() -> None:
    code = "import sys, scraperq.spiders.arguments; print('scrapy' in sys.modules, 'twisted' in sys.modules)"
    done = run([sys.executable, "-c", code], {"PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_every_spider_scrapy_lists_is_declared_with_the_arguments_its_class_checks() -> None:
    from scrapy.utils.project import get_project_settings

    from scraperq.sources.loader import SourceSpiderLoader

    loader = SourceSpiderLoader(get_project_settings())
    python_spiders = set(loader.list()) - set(loader.source_names)
    assert python_spiders == set(SPIDERS)
    for name in python_spiders:
        assert loader.load(name).arguments is SPIDERS[name], name
    for name in loader.source_names:
        assert loader.load(name).arguments in KINDS.values(), name


def test_scrapy_crawl_refuses_an_unknown_argument_in_one_line(tmp_path) -> None:
    env = {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PATH": str(BIN)}
    done = scrapy(["crawl", "generic", "-a", "url=http://127.0.0.1/", "-a", "deepth=2"], env)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "scrapy crawl: error: -a deepth='2': generic has no argument 'deepth' (its arguments: url, urls, worker,"
        " only_new, refresh, follow, depth, allow, render, text)"
    )


def test_the_fields_table_the_csv_export_orders_by_matches_what_each_spider_declares() -> None:
    from scrapy.utils.project import get_project_settings

    from scraperq.itemfields import SPIDER_FIELDS, declared_fields_of_spiders
    from scraperq.items import declared_fields
    from scraperq.sources.loader import SourceSpiderLoader

    loader = SourceSpiderLoader(get_project_settings())
    python_spiders = set(loader.list()) - set(loader.source_names)
    assert set(SPIDER_FIELDS) == python_spiders
    for name in loader.list():
        assert declared_fields_of_spiders([name], None) == declared_fields(loader.load(name)), name
