"""Text safe to show: URLs without their credentials, client values that cannot forge a log line.

Leaf module (no scraperq imports), shared by storage, the queue, the CLI and the scheduler.

Credentials are found without parsing the URL as a URL: a password is often written
unencoded (``postgresql://app:p/a?s#s@db/app``), and then ``urllib.parse`` puts the
host in the path and half the password in the netloc, so its pieces would be
printed. Here the user information is everything from ``scheme://`` to the *last*
``@`` of the URL, whatever it holds; when that guess is wrong (an ``@`` in a path or
query of a URL without credentials) more is hidden than needed, never less.
"""

from __future__ import annotations

import re

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# libpq also takes the password as a query parameter: ?password=... or &password=... (and a Redis
# Sentinel URL its Sentinels' as ?sentinel_password=...). Everything after it
# is hidden: an unencoded '&' or '@' in the password leaves no way to tell where it ends.
_QUERY_PASSWORD = re.compile(r"([?&;](?:sentinel_)?password=).*", re.IGNORECASE | re.DOTALL)
# A URL inside free text (an error message from a driver): up to white space or a quote, or, when an
# '@' follows on the same line, up to that '@' whatever lies between (a password with a space or a quote).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://(?:[^\n]*@[^\s'\"<>]*|[^\s'\"<>]*)")
# Characters a user name cannot hold unencoded: seeing one means the ':' belongs to something else.
_NOT_IN_USER = re.compile(r"[/?#\[\]]")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, well-formed or not.

    ``user:password@`` keeps the user name; a query ``password=`` keeps its name.
    A string without ``scheme://`` gets only the query rule. ``sqlite:///path``
    and other URLs without secrets come back unchanged.
    """
    url = _QUERY_PASSWORD.sub(rf"\1{MASK}", url)
    match = _SCHEME.match(url)
    if match is None:
        return url
    start = match.end()
    at = url.rfind("@", start)
    if at >= 0:
        userinfo = url[start:at]
        user, colon, _password = userinfo.partition(":")
        if not colon:
            shown = MASK if _NOT_IN_USER.search(user) else user  # a user name alone is no secret
        elif _NOT_IN_USER.search(user):
            shown = MASK
        else:
            shown = f"{user}:{MASK}"
        url = url[:start] + shown + url[at:]
    return url


def redact_urls(text: str) -> str:
    """Every URL found in free text (a driver's error message), redacted as :func:`redact_url` does."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def log_safe(value: object, *, limit: int = 500) -> str:
    """A client's value as one line of printable text: what a log line may quote.

    Control characters (a newline that would start a forged log line, an ANSI
    escape), lone surrogates and other non-printable characters are written as
    ``\\xNN`` / ``\\uNNNN`` escapes, backslashes doubled so that an escape in the log
    is never the client's own text, and anything past ``limit`` characters cut.
    """
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    text = text[:limit]
    if text.isprintable() and "\\" not in text:
        return text + ("..." if cut else "")
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out) + ("..." if cut else "")


def misplaced_credentials(url: str) -> bool:
    """True when ``url`` seems to carry a user name or password with an unencoded ``/``, ``?`` or ``#``.

    Then a URL parser (libpq's, urllib's) takes part of the password for the host,
    the path or the query, and would show it in its own error message: such a URL
    is refused before it is used, with the advice to percent-encode.
    """
    match = _SCHEME.match(url)
    if match is None:
        return False
    rest = url[match.end() :]
    delimiter = re.search(r"[/?#]", rest)
    if delimiter is None:
        return False
    authority = rest[: delimiter.start()]
    return "@" not in authority and "@" in rest[delimiter.start() :]


ENCODE_ADVICE = "percent-encode '/', '?', '#' and '@' in the user name and password (%2F, %3F, %23, %40)"


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``) with the URL's password and every URL in it redacted."""
    match = _SCHEME.match(url)
    if match is not None and (at := url.rfind("@", match.end())) >= 0:
        _user, colon, password = url[match.end() : at].partition(":")
        if colon and password:
            from urllib.parse import unquote

            for secret in {password, unquote(password)}:
                text = text.replace(secret, MASK)
    return redact_urls(text)
