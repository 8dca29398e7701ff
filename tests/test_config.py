"""Environment overrides: every setting can be set by an environment variable of the same name, typed."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.settings import Settings

from scraperq.config import apply_environment, known_settings
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
    settings = Settings(DEFAULTS, priority="project")
    apply_environment(settings, environ)
    return known_settings(settings)


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
    before = applied()
    after = applied(lower_helper="9", _PRIVATE="9", NOT_A_SETTING="9", HOME="/root", PATH="/bin")
    assert after == before
    assert "NOT_A_SETTING" not in after and "HOME" not in after


def test_scrapy_settings_the_project_does_not_name_are_read_typed_by_what_they_are() -> None:
    # Scrapy's DOWNLOAD_DELAY default is the whole number 0, yet it counts seconds: a fraction stays one.
    settings = applied(DOWNLOAD_DELAY="0.5", CLOSESPIDER_PAGECOUNT="3", AUTOTHROTTLE_ENABLED="1")
    assert settings["DOWNLOAD_DELAY"] == 0.5
    assert settings["CLOSESPIDER_PAGECOUNT"] == 3
    assert settings["AUTOTHROTTLE_ENABLED"] is True


def test_a_fraction_for_a_whole_number_setting_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        applied(CLOSESPIDER_PAGECOUNT="2.5")
    assert str(caught.value) == "CLOSESPIDER_PAGECOUNT='2.5' is not a valid int"


def test_the_override_sits_beneath_the_command_line() -> None:
    settings = Settings(DEFAULTS, priority="project")
    settings.set("SCRAPERQ_RETRY_TIMES", "9", priority="cmdline")
    apply_environment(settings, {"SCRAPERQ_RETRY_TIMES": "7", "SCRAPERQ_RETRY_BACKOFF": "2"})
    assert settings.getint("SCRAPERQ_RETRY_TIMES") == 9
    assert settings.getfloat("SCRAPERQ_RETRY_BACKOFF") == 2.0


def test_the_settings_module_is_not_rewritten_by_the_environment(monkeypatch) -> None:
    import importlib

    import scraperq.settings

    monkeypatch.setenv("SCRAPERQ_BATCH_SIZE", "7")
    module = importlib.reload(scraperq.settings)
    assert module.SCRAPERQ_BATCH_SIZE == 100


def test_the_project_settings_read_the_environment(tmp_path) -> None:
    env = crawl_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", SCRAPERQ_RETRY_TIMES="7", ROBOTSTXT_OBEY="False")
    assert scrapy(["settings", "--get", "SCRAPERQ_RETRY_TIMES"], env).stdout.strip() == "7"
    assert scrapy(["settings", "--get", "ROBOTSTXT_OBEY"], env).stdout.strip() == "False"


def test_scrapy_settings_from_the_environment_reach_the_command_and_s_beats_them(tmp_path) -> None:
    env = crawl_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", DOWNLOAD_DELAY="0.5", CLOSESPIDER_PAGECOUNT="3")
    assert scrapy(["settings", "--get", "DOWNLOAD_DELAY"], env).stdout.strip() == "0.5"
    assert scrapy(["settings", "--getint", "CLOSESPIDER_PAGECOUNT"], env).stdout.strip() == "3"
    given = scrapy(["settings", "-s", "DOWNLOAD_DELAY=2", "-s", "DOWNLOAD_DELAYY=1", "--get", "DOWNLOAD_DELAY"], env)
    assert given.stdout.strip() == "2"
    assert given.stderr.strip() == (
        "scrapy settings: warning: -s DOWNLOAD_DELAYY is not a setting; did you mean DOWNLOAD_DELAY?"
    )


def test_a_malformed_override_ends_scrapy_settings_in_one_line(tmp_path) -> None:
    env = crawl_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", CLOSESPIDER_PAGECOUNT="2.5")
    proc = scrapy(["settings", "--get", "CLOSESPIDER_PAGECOUNT"], env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "scrapy settings: error: CLOSESPIDER_PAGECOUNT='2.5' is not a valid int"


def test_remote_code_consoles_are_off_in_the_project_settings() -> None:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
