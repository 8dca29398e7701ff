"""Secrets never shown, client text never trusted: redaction of credentials in any URL, escaping for logs.

Passwords are generated (hypothesis), with the characters people put in them and URL parsers
stumble on (``/ ? # @ : %`` and spaces), and each message is searched for the password whole.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler.scrapyd import parse_nodes
from scraperq.errors import ConfigError, StorageUnavailable
from scraperq.redact import log_safe, misplaced_credentials, redact_url, redact_urls, scrub
from tests.helpers import BIN, crawl_env, free_port, run_forked

# What a password may hold in real life: letters, digits, punctuation (the URL's own delimiters too).
PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + "/?#@:%!$&'()*+,;=[]~-._ ", min_size=6, max_size=30)


def _hidden(password: str, *texts: str) -> bool:
    return all(password not in text for text in texts)


@given(password=PASSWORDS)
def test_redact_url_hides_any_password_written_raw(password: str) -> None:
    for template in (
        "postgresql://scraper:{}@db.internal:5432/scraperq",
        "redis://:{}@cache.internal:6379/0",
        "http://admin:{}@scrapyd-1.internal:6800/#capacity=4",
        "postgresql://db.internal/scraperq?user=app&password={}",
    ):
        url = template.format(password)
        assume(password not in template.replace("{}", ""))
        shown = redact_url(url)
        assert _hidden(password, shown), (url, shown)
        assert "***" in shown


def test_redact_url_keeps_what_is_no_secret() -> None:
    assert redact_url("postgresql://app:pw@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_url("postgresql://app@db/x") == "postgresql://app@db/x"
    assert redact_url("sqlite:////var/lib/scraperq.sqlite3") == "sqlite:////var/lib/scraperq.sqlite3"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("postgresql://h/x?sslmode=require&password=pw") == "postgresql://h/x?sslmode=require&password=***"
    assert redact_url("postgresql://app:p/a?s#s@db/x") == "postgresql://app:***@db/x"


@given(password=PASSWORDS, before=st.text(max_size=20), after=st.text(max_size=20))
def test_urls_in_free_text_and_driver_messages_are_redacted(password: str, before: str, after: str) -> None:
    url = f"postgresql://app:{password}@db.internal/scraperq"
    assume(password not in before + after and password not in url.replace(password, ""))
    assert _hidden(password, redact_urls(f"{before} {url} {after}"))
    # A driver that quotes the password alone, out of its URL, is scrubbed too.
    assert _hidden(password, scrub(f'connection failed for password "{password}"', url))


@settings(max_examples=20, deadline=None)
@given(password=PASSWORDS)
def test_a_database_url_with_any_password_never_shows_it_in_the_error(password: str) -> None:
    from scraperq.storage import open_database

    port = free_port()  # nothing listens: the connection is refused at once
    url = f"postgresql://scraper:{password}@127.0.0.1:{port}/scraperq"
    assume(password not in url.replace(password, "", 1))
    with pytest.raises((ConfigError, StorageUnavailable)) as refused:
        open_database(url)
    assert _hidden(password, str(refused.value)), str(refused.value)


@given(password=PASSWORDS)
def test_a_scrapyd_node_with_any_password_never_shows_it(password: str) -> None:
    url = f"http://admin:{password}@127.0.0.1:6800"
    assume(password not in url.replace(password, "", 1) and password not in "Node(name=, capacity=")
    try:
        nodes = parse_nodes(url, default_capacity=1)
    except ConfigError as exc:
        assert _hidden(password, str(exc)), str(exc)
    else:
        assert _hidden(password, nodes[0].name, repr(nodes[0]))


@pytest.mark.parametrize("password", ["p/a?s#s"])
@pytest.mark.parametrize("setting", ["SCRAPYD_NODES", "DATABASE_URL"])
def test_the_scheduler_start_up_error_names_the_problem_without_the_password(
    setting: str, password: str, pg_url: str
) -> None:
    secret = f"{password}-{free_port()}"
    urls = {
        "SCRAPYD_NODES": f"http://admin:{secret}@127.0.0.1:{free_port()}",
        "DATABASE_URL": f"postgresql://postgres:{secret}@127.0.0.1:5432/postgres",
    }
    env = crawl_env(pg_url, **{setting: urls[setting]})
    done = run_forked([str(BIN / "scraperq"), "scheduler"], env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert not any(piece in done.stderr for piece in (secret, "s#s", "a?s")), done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"scraperq: error: {setting} ")
    assert "percent-encode" in done.stderr
    assert misplaced_credentials(urls[setting])


@given(st.text())
def test_log_safe_text_is_one_printable_line(text: str) -> None:
    shown = log_safe(text, limit=10_000)
    assert shown.isprintable()  # no newline, carriage return, escape or other control character
    assert "\n" not in shown and "\r" not in shown
    if text.isprintable() and "\\" not in text:
        assert shown == text  # ordinary text is left as it is


def test_log_safe_escapes_what_forges_a_line() -> None:
    assert log_safe("/api/x\n2026-01-01 INFO forged") == "/api/x\\x0a2026-01-01 INFO forged"
    assert log_safe("a\\x0ab") == "a\\\\x0ab"  # the client's own backslash cannot pass for an escape
    assert log_safe("\x1b[31mred") == "\\x1b[31mred"
    assert log_safe("x" * 600, limit=10) == "x" * 10 + "..."
