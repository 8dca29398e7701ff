"""Environment overrides: every setting can be set by an environment variable of the same name, typed."""

from __future__ import annotations

from typing import Any

import pytest

from scraperq.config import apply_environment
from scraperq.errors import ConfigError
from tests.helpers import crawl_env, scrapy

DEFAULTS: dict[str, Any] = {
    "SCRAPERQ_RETRY_TIMES": 3,
    "SCRAPERQ_RETRY_BACKOFF": 5.0,
    "ROBOTSTXT_OBEY": True,
    "TELNETCONSOLE_ENABLED": False,
    "DOWNLOAD_HANDLERS": {"file": None},
    "RETRY_HTTP_CODES": [500],
    "SCRAPERQ_ALLOW_PRIVATE": "0",
    "DATABASE_URL": None,
}


def applied(**environ: str) -> dict[str, Any]:
    namespace = dict(DEFAULTS)
    apply_environment(namespace, environ)
    return namespace


def test_values_take_the_type_of_the_default() -> None:
    settings = applied(
        SCRAPERQ_RETRY_TIMES="7",
        SCRAPERQ_RETRY_BACKOFF="0.5",
        DOWNLOAD_HANDLERS='{"file": null, "ftp": null}',
        RETRY_HTTP_CODES="[500, 503]",
        SCRAPERQ_ALLOW_PRIVATE="127.0.0.0/8",
        DATABASE_URL="postgresql://db/scraperq",
    )
    assert settings["SCRAPERQ_RETRY_TIMES"] == 7
    assert settings["SCRAPERQ_RETRY_BACKOFF"] == 0.5
    assert settings["DOWNLOAD_HANDLERS"] == {"file": None, "ftp": None}
    assert settings["RETRY_HTTP_CODES"] == [500, 503]
    assert settings["SCRAPERQ_ALLOW_PRIVATE"] == "127.0.0.0/8"
    assert settings["DATABASE_URL"] == "postgresql://db/scraperq"


@pytest.mark.parametrize("raw", ["False", "false", "0", "no", "OFF", ""])
def test_false_words_are_false(raw: str) -> None:
    assert applied(ROBOTSTXT_OBEY=raw)["ROBOTSTXT_OBEY"] is False


@pytest.mark.parametrize("raw", ["True", "1", "yes", "on", " true "])
def test_true_words_are_true(raw: str) -> None:
    assert applied(TELNETCONSOLE_ENABLED=raw)["TELNETCONSOLE_ENABLED"] is True


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("SCRAPERQ_RETRY_TIMES", "three", "SCRAPERQ_RETRY_TIMES='three' is not a valid int"),
        ("SCRAPERQ_RETRY_TIMES", "2.5", "SCRAPERQ_RETRY_TIMES='2.5' is not a valid int"),
        ("SCRAPERQ_RETRY_BACKOFF", "fast", "SCRAPERQ_RETRY_BACKOFF='fast' is not a valid float"),
        ("ROBOTSTXT_OBEY", "maybe", "ROBOTSTXT_OBEY='maybe' is not a boolean"),
        ("DOWNLOAD_HANDLERS", "[1, 2]", "DOWNLOAD_HANDLERS='[1, 2]' is not a valid dict"),
        ("RETRY_HTTP_CODES", "500,503", "RETRY_HTTP_CODES='500,503' is not a valid list"),
    ],
)
def test_a_value_that_does_not_parse_is_a_config_error_naming_it(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        applied(**{name: raw})
    assert str(caught.value).startswith(message)


def test_only_known_upper_case_settings_are_touched() -> None:
    namespace: dict[str, Any] = {**DEFAULTS, "lower_helper": 1, "_PRIVATE": 2}
    apply_environment(namespace, {"lower_helper": "9", "_PRIVATE": "9", "NOT_A_SETTING": "9", "HOME": "/root"})
    assert namespace == {**DEFAULTS, "lower_helper": 1, "_PRIVATE": 2}


def test_the_project_settings_read_the_environment(tmp_path) -> None:
    env = crawl_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", SCRAPERQ_RETRY_TIMES="7", ROBOTSTXT_OBEY="False")
    assert scrapy(["settings", "--get", "SCRAPERQ_RETRY_TIMES"], env).stdout.strip() == "7"
    assert scrapy(["settings", "--get", "ROBOTSTXT_OBEY"], env).stdout.strip() == "False"


def test_remote_code_consoles_are_off_in_the_project_settings() -> None:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
