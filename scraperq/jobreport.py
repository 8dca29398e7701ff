"""A crawl that Scrapyd started reports itself in ``job_runs``: alive while it runs, then how it ended.

Active when the crawl runs under Scrapyd (Scrapyd passes the job id as the
``_job`` spider argument; ``SCRAPY_JOB`` in the environment is read too, as older
Scrapyd releases set it), whoever asked Scrapyd for it: the scheduler daemon, ``schedule.json`` called
directly, ``scrapyd-client``. A job the scheduler did not start gets a row of its
own, so every Scrapyd crawl is in the job history with its counts.

* When the engine starts, the job's row becomes ``running`` with the host and
  process id, and a heartbeat thread refreshes ``heartbeat_at`` and the
  progress (pages fetched, items and tasks stored) every
  ``SCRAPERQ_JOB_HEARTBEAT`` seconds. The scheduler takes a crawl whose
  heartbeat is fresh for alive, whatever its Scrapyd node says (a node killed
  with ``kill -9`` leaves its crawls running), and skips the schedule's next
  fire times meanwhile.
* When the engine stops, after the store pipeline's last batch, the row gets
  its end: ``finished`` (Scrapy's ``finished`` or a ``closespider_*`` reason),
  ``cancelled`` (``shutdown``: Scrapyd's cancel), or ``failed`` with the reason,
  and the final counts. The crawl's own account is final: the daemon never
  re-settles it.
* A crawl that cannot start (an invalid ``-a url``, a database that cannot be
  reached) is refused by ``scrapy crawl`` in one line; :func:`record_start_failure`
  puts that line in ``job_runs.error`` (and the job's log has it too).

Nothing here may stop a crawl: a database that cannot be written is logged and
the crawl goes on.

Settings: ``SCRAPERQ_JOB_REPORT`` (default on), ``SCRAPERQ_JOB_HEARTBEAT`` (10 s), ``DATABASE_URL``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_to_future
from twisted.internet import threads

from scraperq.arguments import SCRAPYD_JOB_ARG
from scraperq.errors import first_line
from scraperq.storage import database_url, jobs, open_database
from scraperq.storage.connection import Database, utcnow

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT = 10.0
# Close reasons of a crawl that ended as it was meant to.
_CANCELLED = ("shutdown",)


def scrapyd_job_id(spider_args: Any = None) -> str | None:
    """Scrapyd's job id for this crawl (its ``_job`` argument, or ``SCRAPY_JOB``); None outside Scrapyd.

    ``spider_args`` is the spider (its ``_job`` attribute) or the ``-a`` arguments (a mapping).
    """
    if isinstance(spider_args, dict):
        given = spider_args.get(SCRAPYD_JOB_ARG)
    else:
        given = getattr(spider_args, SCRAPYD_JOB_ARG, None)
    return str(given or "") or os.environ.get("SCRAPY_JOB") or None


def outcome_of(reason: str) -> tuple[str, str | None]:
    """(status, error) for Scrapy's close reason."""
    if reason == "finished" or reason.startswith("closespider_"):
        return "finished", None
    if reason in _CANCELLED:
        return "cancelled", "cancelled: the crawl was asked to stop (Scrapyd's cancel.json or a signal)"
    return "failed", f"the spider closed with reason {reason!r}"


class JobReport:
    def __init__(self, crawler: Crawler, job_id: str, *, heartbeat: float) -> None:
        self.crawler = crawler
        self.job_id = job_id
        self.heartbeat = heartbeat
        self.db: Database | None = None
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobReport:
        job_id = scrapyd_job_id(crawler.spider)  # the spider exists by the time extensions are built
        if not job_id or not crawler.settings.getbool("SCRAPERQ_JOB_REPORT", True):
            raise NotConfigured("not a Scrapyd job")
        heartbeat = crawler.settings.getfloat("SCRAPERQ_JOB_HEARTBEAT", DEFAULT_HEARTBEAT)
        report = cls(crawler, job_id, heartbeat=max(0.1, heartbeat))
        crawler.signals.connect(report.engine_started, signal=signals.engine_started)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(report.engine_stopped, signal=signals.engine_stopped)
        return report

    @property
    def spider_name(self) -> str:
        spider = self.crawler.spider
        return getattr(spider, "name", None) or getattr(self.crawler.spidercls, "name", "") or ""

    async def engine_started(self) -> None:
        await deferred_to_future(threads.deferToThread(self._started))

    def _started(self) -> None:
        try:
            self.db = open_database(database_url(self.crawler.settings), pool_size=1)
            jobs.crawl_started(
                self.db,
                job_id=self.job_id,
                spider=self.spider_name,
                host=socket.gethostname(),
                pid=os.getpid(),
                at=utcnow(),
            )
        except Exception as exc:  # the crawl goes on; the scheduler falls back on Scrapyd's word
            logger.warning("Cannot record job %s as running: %s", self.job_id, first_line(exc))
            return
        self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        failing = False
        while not self._stop.wait(self.heartbeat):
            assert self.db is not None
            try:
                jobs.crawl_heartbeat(self.db, job_id=self.job_id, at=utcnow(), pages=self._pages())
            except Exception as exc:
                if not failing:
                    logger.warning("Cannot record the heartbeat of job %s: %s", self.job_id, first_line(exc))
                failing = True
            else:
                failing = False

    def _pages(self) -> int:
        stats = self.crawler.stats
        return int(stats.get_value("response_received_count", 0) or 0) if stats is not None else 0

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.reason = reason

    async def engine_stopped(self) -> None:
        # After spider_closed's handlers, the store pipeline's last batch among them: the counts are final.
        self._stop.set()
        await deferred_to_future(threads.deferToThread(self._ended))

    def _ended(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat + 5)
        reason = self.reason or "engine stopped before the spider closed"
        status, error = outcome_of(reason)
        try:
            db = self.db or open_database(database_url(self.crawler.settings), pool_size=1)
            self.db = db
            jobs.crawl_ended(
                db,
                job_id=self.job_id,
                spider=self.spider_name,
                status=status,
                finish_reason=reason,
                error=error,
                pages=self._pages(),
                at=utcnow(),
            )
        except Exception as exc:
            logger.warning("Cannot record the end of job %s: %s", self.job_id, first_line(exc))
        finally:
            if self.db is not None:
                self.db.close()


def record_start_failure(settings: Any, job_id: str, spider: str, error: str) -> None:
    """A Scrapyd crawl that could not start: its row says why, in the words ``scrapy crawl`` printed."""
    try:
        with open_database(database_url(settings), pool_size=1) as db:
            jobs.crawl_ended(
                db,
                job_id=job_id,
                spider=spider,
                status="failed",
                finish_reason="not started",
                error=error,
                pages=0,
                at=utcnow(),
            )
    except Exception as exc:  # the database may be what failed; the job's log says why either way
        logger.warning("Cannot record why job %s did not start: %s", job_id, first_line(exc))
