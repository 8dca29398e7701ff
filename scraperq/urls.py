"""URL checks shared by the CLI, the API, Redis payloads and spider arguments."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from scraperq.errors import BadInput

MAX_URL_LENGTH = 8192
# Whitespace (str.isspace's, which re's \s matches) or a control character below U+0020.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")
# The common case, checked without urlsplit (a tenth of its time, for bulk submissions): http(s),
# a plain ASCII host, an optional port, then anything but whitespace and control characters.
# Whatever it matches, the full check below would accept with the same host.
_PLAIN = re.compile(r"(?i:https?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:[/?#][^\s\x00-\x1f]*)?")


def validate_url(raw: object) -> str:
    """Return the URL stripped of surrounding space, or raise BadInput saying what is wrong."""
    return url_and_host(raw)[0]


def url_and_host(raw: object) -> tuple[str, str]:
    """:func:`validate_url`'s URL and its host name, lower case (for callers that check the host next)."""
    if isinstance(raw, str) and len(raw) <= MAX_URL_LENGTH:
        plain = _PLAIN.fullmatch(raw)
        if plain is not None:
            port = plain.group(2)
            if port is None or 0 < int(port) <= 65535:
                return raw, plain.group(1).lower()
    return checked_url_and_host(raw)


def checked_url_and_host(raw: object) -> tuple[str, str]:
    """:func:`url_and_host` without the shortcut for plain URLs: every URL through ``urlsplit``."""
    if not isinstance(raw, str):
        raise BadInput(f"invalid URL {raw!r}: not a string")
    url = raw.strip()
    shown = url if len(url) <= 200 else url[:200] + "..."
    if not url:
        raise BadInput("invalid URL '': empty")
    if len(url) > MAX_URL_LENGTH:
        raise BadInput(f"invalid URL {shown!r}: longer than {MAX_URL_LENGTH} characters")
    if _SPACE_OR_CONTROL.search(url):
        raise BadInput(f"invalid URL {shown!r}: contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"invalid URL {shown!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise BadInput(f"invalid URL {shown!r}: {what}, only http and https are allowed")
    if not parts.hostname:
        raise BadInput(f"invalid URL {shown!r}: no host")
    if port == 0:
        raise BadInput(f"invalid URL {shown!r}: port 0")
    return url, parts.hostname
