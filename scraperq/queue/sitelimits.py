"""Per-site politeness of one spider: how far apart, and how many at once, across every worker.

A *site* is a Scrapy download slot: ``meta["download_slot"]`` or the URL's host name.
Its limits come from, first match wins:

1. ``SCRAPERQ_SITE_LIMITS``: ``{"example.com": {"delay": 1, "concurrency": 2}, ...}``.
   A key matches its host and every sub-domain of it (``example.com`` covers
   ``www.example.com``); the longest matching key wins; ``"*"`` matches any site.
   A source file sets the same under ``politeness.sites``.
2. Scrapy's own: ``DOWNLOAD_SLOTS[slot]["delay"|"concurrency"|"jitter"]``, ``DOWNLOAD_DELAY``,
   ``DOWNLOAD_DELAY_JITTER`` (or the older ``RANDOMIZE_DOWNLOAD_DELAY``); ``CONCURRENT_REQUESTS_PER_DOMAIN`` counts for
   the whole cluster only with ``SCRAPERQ_SHARE_SITE_CONCURRENCY`` (per-source spiders
   turn it on), since a worker's own limit is what most crawls of many sites want.

AutoThrottle (``AUTOTHROTTLE_ENABLED``) adapts each site's delay from the latencies every
worker sees, kept in Redis beside the site's next allowed time (see :mod:`scraperq.queue.slotgate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scraperq.errors import ConfigError

LIMIT_KEYS = {"delay", "concurrency"}


@dataclass(frozen=True)
class SitePolicy:
    delay: float = 0.0  # seconds between two requests to the site, cluster-wide
    concurrency: int = 0  # requests in flight to the site at once, cluster-wide; 0: no shared limit
    jitter: float = 0.0  # each gap is delay x (1 +- up to jitter), as Scrapy's DOWNLOAD_DELAY_JITTER
    autothrottle: bool = False

    @property
    def shared(self) -> bool:
        """Whether requests to the site need to ask Redis before they go."""
        return self.delay > 0 or self.concurrency > 0 or self.autothrottle


def parse_site_limits(raw: Any) -> dict[str, dict[str, float]]:
    """``SCRAPERQ_SITE_LIMITS`` checked: site -> {"delay"?: seconds, "concurrency"?: n}; raises ConfigError."""
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("SCRAPERQ_SITE_LIMITS must map sites to {'delay': seconds, 'concurrency': n}")
    limits: dict[str, dict[str, float]] = {}
    for site, values in raw.items():
        where = f"SCRAPERQ_SITE_LIMITS[{str(site)!r}]"
        if not isinstance(site, str) or not site.strip():
            raise ConfigError("SCRAPERQ_SITE_LIMITS: a site must be a host name or '*'")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where} must be {{'delay': seconds, 'concurrency': n}}")
        unknown = set(values) - LIMIT_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: concurrency, delay)")
        checked: dict[str, float] = {}
        if "delay" in values:
            delay = values["delay"]
            if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
                raise ConfigError(f"{where}['delay'] must be a number of seconds, 0 or more")
            checked["delay"] = float(delay)
        if "concurrency" in values:
            conc = values["concurrency"]
            if isinstance(conc, bool) or not isinstance(conc, int) or conc < 1:
                raise ConfigError(f"{where}['concurrency'] must be a whole number, 1 or more")
            checked["concurrency"] = conc
        limits[site.strip().lower().rstrip(".")] = checked
    return limits


class SiteLimits:
    """Resolves the :class:`SitePolicy` of each download slot of one crawl (cached per slot)."""

    def __init__(self, settings: Any) -> None:
        try:
            raw = settings.getdict("SCRAPERQ_SITE_LIMITS")
        except ValueError:
            raise ConfigError("SCRAPERQ_SITE_LIMITS must be a JSON object of sites") from None
        self.limits = parse_site_limits(raw)
        self.slots = settings.getdict("DOWNLOAD_SLOTS") or {}
        self.default_delay = settings.getfloat("DOWNLOAD_DELAY")
        self.share_concurrency = settings.getbool("SCRAPERQ_SHARE_SITE_CONCURRENCY")
        self.per_domain = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.jitter = default_jitter(settings)
        self.autothrottle = settings.getbool("AUTOTHROTTLE_ENABLED")
        self._cache: dict[str, SitePolicy] = {}

    def policy(self, slot: str) -> SitePolicy:
        cached = self._cache.get(slot)
        if cached is None:
            cached = self._cache[slot] = self._resolve(slot)
        return cached

    def _match(self, slot: str) -> dict[str, float]:
        host = slot.lower().rstrip(".")
        parts = host.split(".")
        for i in range(len(parts)):  # longest suffix first
            found = self.limits.get(".".join(parts[i:]))
            if found is not None:
                return found
        return self.limits.get("*", {})

    def _resolve(self, slot: str) -> SitePolicy:
        site = self._match(slot)
        scrapy_slot = self.slots.get(slot) or {}
        delay = site.get("delay", scrapy_slot.get("delay", self.default_delay))
        concurrency = site.get("concurrency")
        if concurrency is None and self.share_concurrency:
            concurrency = scrapy_slot.get("concurrency", self.per_domain)
        jitter = float(scrapy_slot.get("jitter", self.jitter))
        return SitePolicy(float(delay or 0), int(concurrency or 0), jitter, self.autothrottle)


def default_jitter(settings: Any) -> float:
    """``DOWNLOAD_DELAY_JITTER``, or none where ``RANDOMIZE_DOWNLOAD_DELAY`` was turned off (as Scrapy reads them)."""
    randomize = settings.getpriority("RANDOMIZE_DOWNLOAD_DELAY") or 0
    if randomize > (settings.getpriority("DOWNLOAD_DELAY_JITTER") or 0) and not settings.getbool(
        "RANDOMIZE_DOWNLOAD_DELAY"
    ):
        return 0.0
    return max(0.0, settings.getfloat("DOWNLOAD_DELAY_JITTER", 0.5))
