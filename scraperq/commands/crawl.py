"""``scrapy crawl``, with bad input reported in one line instead of a traceback.

Scrapy's own ``crawl`` lets an exception raised while the crawler starts (an
invalid ``-a url=``, a database that cannot be reached, an unknown spider name)
escape as a traceback with exit status 1. Here a :class:`~scraperq.errors.ScraperqError`
raised while the crawler, spider or their components are created ends the command
with ``scrapy crawl: error: <message>`` on stderr and exit status 2, as the
``scraperq`` CLI does. Errors that are not ours keep Scrapy's behaviour.

Enabled by ``COMMANDS_MODULE = "scraperq.commands"`` in settings.py; Scrapyd runs
crawls through ``scrapy.cmdline`` too, so its jobs get the same messages in their logs,
and in their ``job_runs`` row (``scraperq.jobreport``). The environment's overrides are applied
before ``-s`` (:func:`scraperq.commands.process_options`).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from scrapy.commands import crawl

from scraperq.commands import EXIT_USAGE, process_options
from scraperq.errors import BadInput, ScraperqError
from scraperq.jobreport import record_start_failure, scrapyd_job_id

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class Command(crawl.Command):
    def __init__(self) -> None:
        super().__init__()
        self.startup_error: ScraperqError | None = None
        self.spider_name = ""
        self.job_id: str | None = None

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        process_options(self, crawl.Command, args, opts)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            # Scrapy's checks and messages for a missing or second spider name.
            super().run(args, opts)
            return
        assert self.crawler_process is not None
        self.spider_name = args[0]
        self.job_id = scrapyd_job_id(opts.spargs)
        try:
            crawler = self._create_crawler(args[0])
            running = self.crawler_process.crawl(crawler, **opts.spargs)
        except ScraperqError as exc:
            self.fail(exc)
            return
        self._watch(running)
        self.crawler_process.start()
        if self.startup_error is not None:
            self.fail(self.startup_error)
        elif self.crawler_process.bootstrap_failed:
            self.exitcode = 1

    def _create_crawler(self, spidercls: Any) -> Crawler:
        if isinstance(spidercls, str):
            assert self.crawler_process is not None
            known = self.crawler_process.spider_loader.list()
            if spidercls not in known:
                raise BadInput(f"unknown spider {spidercls!r}: use one of {', '.join(sorted(known)) or '(none)'}")
        return super()._create_crawler(spidercls)

    def _watch(self, running: Any) -> None:
        """Catch our errors from the crawl's start: an asyncio Task or a Twisted Deferred."""
        if hasattr(running, "add_done_callback"):  # AsyncCrawlerProcess
            running.add_done_callback(self._task_done)
        else:  # CrawlerProcess (FORCE_CRAWLER_PROCESS or another reactor)
            running.addErrback(self._deferred_failed)

    def _task_done(self, task: Any) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # also marks it retrieved: asyncio would print a traceback
        if isinstance(exc, ScraperqError):
            self.startup_error = exc
        elif exc is not None:
            logger.error("The crawl ended with an unexpected error", exc_info=exc)

    def _deferred_failed(self, failure: Any) -> Any:
        if failure.check(ScraperqError):
            self.startup_error = failure.value
            return None
        return failure

    def fail(self, exc: ScraperqError) -> None:
        print(f"scrapy crawl: error: {exc}", file=sys.stderr)
        self.exitcode = EXIT_USAGE
        if self.job_id:  # a Scrapyd job: its log and its job_runs row say why, in the same words
            logger.error("The crawl did not start: %s", exc)
            record_start_failure(self.settings, self.job_id, self.spider_name, str(exc))
