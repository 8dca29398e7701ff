"""Looking for events: job runs, Scrapyd nodes and dead letters, one pass every ``SCRAPERQ_ALERT_INTERVAL``.

Everything is read from where it is recorded, so an event is found whoever
recorded it (this daemon's tracker, a crawl reporting its own end on a Scrapyd
node, the maintenance run, another daemon before a hand-over):

* **runs**: ``job_runs`` rows that ended since the last pass (the cursor is kept
  in ``alert_state``; a margin of :data:`MARGIN` covers clocks of crawl hosts and
  late commits, and a daemon back after a long stop looks back at most
  :data:`CATCH_UP`). Failed rows raise ``job.failed`` (``maintenance.failed`` for
  the maintenance run) and, for a schedule, ``schedule.failing`` once its
  failures since its last finished run reach the threshold; a schedule's
  finished run with no item raises ``schedule.empty``.
* **nodes**: ``daemonstatus.json`` through the node pool (it asks a node that is
  down only every so often); a node failing for ``SCRAPERQ_ALERT_NODE_DOWN_AFTER``
  seconds is down, the first answer after that is up.
* **dead letters**: ``LLEN <spider>:dead`` for the project's spiders and those of
  schedules and recent runs, through redis-py (no Scrapy); reaching the
  threshold raises the event, falling below it re-arms it.

Node and dead-letter states live in ``alert_state`` and change by
compare-and-set, in the transaction that records the event: the daemon that
takes over knows a node was already reported down. Event ids make the rest
idempotent (``scheduler.alerts.events``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis

from scheduler.alerts.config import AlertConfig
from scheduler.alerts.events import (
    Event,
    dead_letters,
    job_failed,
    node_down,
    node_up,
    one_line,
    schedule_empty,
    schedule_failing,
)
from scheduler.nodes import NodePool
from scraperq.errors import ScraperqError
from scraperq.queue import defaults
from scraperq.storage import alerts as store
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)

CURSOR_KEY = "cursor:job_runs"
# How far before the last pass a run's end is looked for again: its finished_at may come from a
# crawl host's clock, or be committed a little after it was taken.
MARGIN = timedelta(minutes=10)
# A daemon back after a long stop reports the runs of the last day, not of every day it missed.
CATCH_UP = timedelta(days=1)
# How often the list of spiders whose dead letters are counted is read again.
_SPIDERS_EVERY = 60.0


class Watch:
    def __init__(
        self,
        config: AlertConfig,
        db: Database,
        pool: NodePool | None,
        *,
        redis_factory: Callable[[], redis.Redis] | None = None,
        project_spiders: Callable[[], Sequence[str]] = tuple,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.db = db
        self.pool = pool
        self.redis_factory = redis_factory
        self.project_spiders = project_spiders
        self.clock = clock
        self.monotonic = monotonic
        self._seen: dict[int, datetime] = {}  # run id -> the end already looked at
        self._failing_since: dict[str, datetime] = {}  # node -> first failed answer in a row
        self._known: dict[str, str] = {}  # alert_state key -> state, as last read or written here
        self._redis: redis.Redis | None = None
        self._redis_failing = False
        self._spiders: tuple[float, list[str]] | None = None

    @property
    def destinations(self) -> list[str]:
        return [d.name for d in self.config.destinations]

    def forget(self) -> None:
        """Drop what this daemon remembers of states: another may have changed them while it did not lead."""
        self._known.clear()
        self._failing_since.clear()

    def check(self) -> int:
        """One pass; the number of events raised."""
        now = self.clock()
        raised = self._runs(now)
        if self.pool is not None:
            raised += self._nodes(now)
        raised += self._dead_letters(now)
        return raised

    # -- job runs -----------------------------------------------------------------------------

    def _runs(self, now: datetime) -> int:
        cursor = store.read_state(self.db, CURSOR_KEY)
        last = datetime.fromisoformat(cursor[0]) if cursor else now
        since = max(last - MARGIN, now - CATCH_UP)
        events: list[Event] = []
        failed_schedules: dict[int, store.EndedRun] = {}
        runs = store.runs_ended_since(self.db, since)
        for run in runs:
            if self._seen.get(run.id) == run.finished_at:
                continue
            if run.status == "failed":
                events.append(job_failed(run))
                if run.schedule_id is not None:
                    failed_schedules[run.schedule_id] = run  # the newest, runs come oldest first
            elif run.item_count == 0 and self.config.empty_runs_for(run.schedule_settings):
                events.append(schedule_empty(run))
        for schedule_id, latest in failed_schedules.items():
            threshold = self.config.failures_for(latest.schedule_settings)
            streak = store.failing_streak(self.db, schedule_id, threshold) if threshold > 0 else None
            if streak is not None:
                first, failures = streak
                events.append(schedule_failing(latest, first_run_id=first, failures=failures, threshold=threshold))
        raised = self._raise(events)
        self._seen = {r.id: r.finished_at for r in runs}  # what the next pass's window can still hold
        store.write_state(self.db, CURSOR_KEY, now.isoformat(), at=now)
        return raised

    def _raise(self, events: list[Event]) -> int:
        if not events:
            return 0
        known = store.known_events(self.db, [e.id for e in events])
        raised = 0
        for event in events:
            if event.id in known:
                continue
            new = store.NewAlert(event.id, event.type, event.payload(self.config.console_url))
            if store.record_alert(self.db, new, destinations=self.destinations, at=self.clock()):
                raised += 1
                logger.warning("Alert %s: %s", event.type, one_line(event.summary))
        return raised

    # -- state changes (nodes, dead letters) ------------------------------------------------------

    def _change(self, key: str, state: str, *, initial: str, event: Callable[[int], Event | None]) -> bool:
        """Move ``key`` to ``state``, raising the event the change calls for; True if one was raised."""
        if self._known.get(key) == state:
            return False
        stored = store.read_state(self.db, key)
        if (stored[0] if stored else initial) == state:
            self._known[key] = state
            return False
        made: list[Event] = []

        def alert(number: int) -> store.NewAlert | None:
            found = event(number)
            if found is None:
                return None
            made.append(found)
            return store.NewAlert(found.id, found.type, found.payload(self.config.console_url))

        now = self.clock()
        store.change_state(self.db, key, state, initial=initial, at=now, alert=alert, destinations=self.destinations)
        self._known[key] = state
        for found in made:
            logger.warning("Alert %s: %s", found.type, one_line(found.summary))
        return bool(made)

    def _nodes(self, now: datetime) -> int:
        assert self.pool is not None
        raised = 0
        down_after = timedelta(seconds=self.config.node_down_after)
        for status in self.pool.statuses():
            name = status.node.name
            key = f"node:{name}"
            if status.up:
                self._failing_since.pop(name, None)
                stored = store.read_state(self.db, key) if self._known.get(key) != "up" else None
                down_since = stored[1] if stored and stored[0] == "down" else None
                raised += self._change(
                    key,
                    "up",
                    initial="up",
                    event=lambda n, name=name, since=down_since: node_up(name, at=now, down_since=since, change=n),
                )
                continue
            since = self._failing_since.setdefault(name, now)
            if now - since >= down_after:
                error = status.error or "no answer"
                raised += self._change(
                    key,
                    "down",
                    initial="up",
                    event=lambda n, name=name, since=since, error=error: node_down(
                        name, error=error, since=since, change=n
                    ),
                )
        return raised

    # -- dead letters ----------------------------------------------------------------------------

    def _dead_letters(self, now: datetime) -> int:
        threshold = self.config.dead_letters
        if threshold <= 0 or self.redis_factory is None:
            return 0
        spiders = self._watched_spiders()
        try:
            if self._redis is None:
                self._redis = self.redis_factory()
            pipe = self._redis.pipeline(transaction=False)
            for spider in spiders:
                pipe.llen(defaults.DEAD_KEY % {"spider": spider})
            counts = [int(n) for n in pipe.execute()]
        except (redis.RedisError, ScraperqError) as exc:
            if not self._redis_failing:
                logger.error("Cannot count dead letters (will keep trying): %s", one_line(exc))
            self._redis_failing = True
            self._close_redis()
            return 0
        if self._redis_failing:
            logger.info("Counting dead letters again: Redis answers")
            self._redis_failing = False
        raised = 0
        for spider, count in zip(spiders, counts, strict=True):
            over = count >= threshold
            raised += self._change(
                f"dead:{spider}",
                "over" if over else "under",
                initial="under",
                event=lambda n, spider=spider, count=count, over=over: (
                    dead_letters(spider, count=count, threshold=threshold, at=now, change=n) if over else None
                ),
            )
        return raised

    def _watched_spiders(self) -> list[str]:
        checked = self.monotonic()
        if self._spiders is None or checked - self._spiders[0] >= _SPIDERS_EVERY:
            try:
                names = set(self.project_spiders())
            except (OSError, ScraperqError) as exc:  # a sources folder that cannot be read: count the others
                logger.warning("Cannot list the project's spiders for dead letters: %s", one_line(exc))
                names = set()
            names |= set(store.scheduled_spiders(self.db))
            self._spiders = (checked, sorted(names))
        return self._spiders[1]

    def _close_redis(self) -> None:
        if self._redis is not None:
            try:
                self._redis.close()
            except redis.RedisError:
                pass
        self._redis = None

    def close(self) -> None:
        self._close_redis()


def settings_spiders(settings: Any) -> Callable[[], list[str]]:
    """The project's spiders as ``scrapy list`` shows them, read without Scrapy."""

    def names() -> list[str]:
        from scraperq.spiders.arguments import project_spiders

        return sorted(project_spiders(settings.get("SCRAPERQ_SOURCES_DIR")))

    return names
