"""URL validation shared by the CLI, the API, Redis payloads and spider arguments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraperq.errors import BadInput
from scraperq.urls import MAX_URL_LENGTH, checked_url_and_host, url_and_host, validate_url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://example.com", "https://example.com"),
        ("  http://example.com/a?b=c#d \n", "http://example.com/a?b=c#d"),
        ("HTTPS://Example.COM:8443/path", "HTTPS://Example.COM:8443/path"),
        ("http://[2001:db8::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("http://user:pass@example.com/", "http://user:pass@example.com/"),
    ],
)
def test_valid_urls_come_back_stripped(raw: str, url: str) -> None:
    assert validate_url(raw) == url


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("example.com", "no scheme, only http and https are allowed"),
        ("ftp://example.com/file", "scheme 'ftp', only http and https are allowed"),
        ("file:///etc/passwd", "scheme 'file', only http and https are allowed"),
        ("javascript:alert(1)", "scheme 'javascript', only http and https are allowed"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://example.com:0/", "port 0"),
        ("http://example.com:99999/", "out of range"),
        ("http://example.com:http/", "Port could not be cast"),
        ("http://[::1/", "Invalid IPv6 URL"),
        ("http://exa mple.com/", "contains whitespace or control characters"),
        ("http://example.com/\x00", "contains whitespace or control characters"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, f"longer than {MAX_URL_LENGTH} characters"),
        (None, "not a string"),
        (42, "not a string"),
    ],
)
def test_invalid_urls_say_what_is_wrong(raw: object, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        validate_url(raw)
    message = str(caught.value)
    assert message.startswith("invalid URL ")
    assert reason in message
    assert "\n" not in message


def test_a_long_bad_url_is_shortened_in_the_message() -> None:
    with pytest.raises(BadInput) as caught:
        validate_url("ftp://example.com/" + "x" * 5000)
    assert len(str(caught.value)) < 300


def _verdict(check: object, raw: str) -> object:
    try:
        return check(raw)  # type: ignore[operator]
    except BadInput as exc:
        return ("refused", str(exc))


_url_parts = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "http:", ""]),
    st.sampled_from(["://", ":/", "//"]),
    st.text(alphabet="aZ09.-_[]:@%", max_size=12),
    st.sampled_from(["", ":0", ":80", ":65535", ":65536", ":080", ":x", ":99999"]),
    st.text(max_size=12) | st.sampled_from(["", "/", "?q=1", "#f", "/a b", "/\x7f"]),
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_url_parts | st.text(max_size=30))
def test_the_shortcut_for_plain_urls_agrees_with_the_full_check(raw: str) -> None:
    """Bulk submissions check most URLs without urlsplit: the verdict and host must not change."""
    assert _verdict(url_and_host, raw) == _verdict(checked_url_and_host, raw)
