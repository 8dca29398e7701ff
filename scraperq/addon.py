"""scraperq in any Scrapy project, with one line: ``ADDONS = {"scraperq.addon.Addon": 0}``.

A Scrapy add-on (Scrapy's add-ons API: ``update_settings``). It turns on what this
project's own settings.py turns on, and nothing of the project's own taste
(politeness, User-Agent, robots.txt stay the project's):

* the shared queue and its seen-set (``SCHEDULER``, ``DUPEFILTER_CLASS``): Redis
  with ``REDIS_URL``, Scrapy's in-process scheduler without;
* the task ledger (``TaskStatusMiddleware``, ``TaskSpiderMiddleware``), the store
  pipelines (``ValidatePipeline`` first, ``StorePipeline`` last), the only-new
  middleware, the Scrapyd job report;
* the SSRF guard (its middleware and resolver, only http(s) download handlers),
  the download size cap, the telnet console and remote control off;
* backoff retries in place of Scrapy's ``RetryMiddleware``;
* spiders written for scrapy-redis as workers under leases
  (:mod:`scraperq.middlewares.scrapyredis`);
* every ``SCRAPERQ_*`` setting, ``DATABASE_URL``, ``REDIS_URL`` and ``REDIS_PARAMS``
  with scraperq's defaults.

Plain settings get the add-on priority, so the project's settings.py and ``-s``
still win; an environment variable naming one of scraperq's settings wins over
the project's settings.py, as it does in this project. Components are added to the
project's dicts with Scrapy's component-priority helpers: the project's own
middlewares and pipelines keep their numbers, hence their order among ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.misc import load_object

from scraperq.config import environment_overrides

if TYPE_CHECKING:
    from scrapy.settings import Settings

RETRY_MIDDLEWARE = "scrapy.downloadermiddlewares.retry.RetryMiddleware"
# The component dicts of scraperq's settings.py that the add-on merges into the project's.
COMPONENT_DICTS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES", "EXTENSIONS")

# Plain settings of scraperq's settings.py the add-on sets, besides every SCRAPERQ_* one.
PLAIN = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PARAMS",
    "SCHEDULER",
    "DUPEFILTER_CLASS",
    "DOWNLOADER",
    "TWISTED_REACTOR",
    "TWISTED_DNS_RESOLVER",
    "DOWNLOAD_MAXSIZE",
    "DOWNLOAD_WARNSIZE",
    "TELNETCONSOLE_ENABLED",
    "REMOTE_CONTROL_ENABLED",
    "RETRY_HTTP_CODES",
    "RETRY_EXCEPTIONS",
)


def scraperq_settings() -> dict[str, Any]:
    """scraperq's settings.py, upper-case names only, as written there."""
    from scraperq import settings as module

    return {name: getattr(module, name) for name in dir(module) if name.isupper() and not name.startswith("_")}


class Addon:
    def update_settings(self, settings: Settings) -> None:
        ours = scraperq_settings()
        plain = {name: value for name, value in ours.items() if name in PLAIN or name.startswith("SCRAPERQ_")}
        from_environment = environment_overrides(plain)  # a malformed value: ConfigError, in one line
        for name, value in plain.items():
            if name in from_environment:
                # An environment variable beats the project's settings.py, as in scraperq's own project.
                settings.set(name, from_environment[name], priority="project")
            else:
                settings.set(name, value, priority="addon")
        for name in COMPONENT_DICTS:
            for path, number in ours[name].items():
                settings.setdefault_in_component_priority_dict(name, load_object(path), number)
        # Scrapy's own retries would retry at once, and twice over with ours. Off by the dotted
        # path its base dict uses: a class key would sit beside that entry and leave it on.
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        for key in [k for k in middlewares if k is RetryMiddleware]:
            del middlewares[key]
        middlewares[RETRY_MIDDLEWARE] = None
        settings.set(
            "DOWNLOADER_MIDDLEWARES", middlewares, priority=settings.getpriority("DOWNLOADER_MIDDLEWARES") or 0
        )
        handlers = settings.getdict("DOWNLOAD_HANDLERS")
        for scheme, handler in ours["DOWNLOAD_HANDLERS"].items():
            handlers.setdefault(scheme, handler)
        settings.set("DOWNLOAD_HANDLERS", handlers, priority=settings.getpriority("DOWNLOAD_HANDLERS") or 0)
