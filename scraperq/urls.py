"""URL checks shared by the CLI, the API, Redis payloads and spider arguments."""

from __future__ import annotations

from urllib.parse import urlsplit

from scraperq.errors import BadInput

MAX_URL_LENGTH = 8192


def validate_url(raw: object) -> str:
    """Return the URL stripped of surrounding space, or raise BadInput saying what is wrong."""
    if not isinstance(raw, str):
        raise BadInput(f"invalid URL {raw!r}: not a string")
    url = raw.strip()
    shown = url if len(url) <= 200 else url[:200] + "..."
    if not url:
        raise BadInput("invalid URL '': empty")
    if len(url) > MAX_URL_LENGTH:
        raise BadInput(f"invalid URL {shown!r}: longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() for c in url) or any(ord(c) < 32 for c in url):
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
    return url
