"""Which links a crawl may follow: same host, same registrable domain, an ``allow`` regex.

The registrable domain ("example.co.uk" for "a.example.co.uk") comes from the
Public Suffix List as bundled with tldextract (already a Scrapy dependency).
It is never fetched at run time: a crawl's scope must not depend on network
access to publicsuffix.org, nor change half-way through a crawl. The list's
private section is included, so two blogs on ``github.io`` or ``blogspot.com``
are different domains, as browsers treat them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from tldextract import TLDExtract

FOLLOW_MODES = ("none", "same-host", "same-domain")


@cache
def _suffix_list() -> TLDExtract:
    # suffix_list_urls=() and cache_dir=None: the snapshot inside the package, no fetch, no cache files.
    return TLDExtract(cache_dir=None, suffix_list_urls=(), include_psl_private_domains=True)


def registrable_domain(host: str) -> str:
    """The domain a person registered: ``b.example.co.uk`` -> ``example.co.uk``.

    IP addresses and single-label names stand for themselves; a name under a
    suffix the list does not know (``intranet.corp``) is taken to end in a
    one-label suffix.
    """
    host = host.strip().lower().rstrip(".")
    if not host:
        return host
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    parts = _suffix_list().extract_str(host)
    if parts.top_domain_under_public_suffix:
        return parts.top_domain_under_public_suffix
    labels = host.split(".")
    if not parts.suffix and len(labels) >= 2:
        return ".".join(labels[-2:])
    return host  # a bare suffix ("co.uk") or a single label ("localhost")


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


@dataclass(frozen=True)
class FollowScope:
    """The rule for one task's links, anchored at the host its own page ended up on."""

    mode: str
    host: str
    allow: re.Pattern[str] | None = None

    def permits(self, url: str) -> bool:
        if self.mode == "none":
            return False
        if not url.lower().startswith(("http://", "https://")):
            return False
        host = host_of(url)
        if self.mode == "same-host" and host != self.host:
            return False
        if self.mode == "same-domain" and registrable_domain(host) != registrable_domain(self.host):
            return False
        return self.allow is None or self.allow.search(url) is not None
