"""Schedule operations, one implementation for ``scraperq schedule`` and ``/api/schedules``.

Add, edit, pause, resume, remove and run-now, each with the same checks before
anything is written, so a schedule is refused in the same words whichever way it
arrives (and nothing is stored on refusal):

* ``name``: letters, digits, ``.``, ``_``, ``-``; unique;
* ``spider``: one the project has (``scrapy list``: the Python spiders and the
  source files, read without Scrapy: ``scraperq/spiders/arguments.py``);
* ``args``: checked by the spider's own declaration, as ``scrapy crawl -a``
  will check them (an invalid URL, a malformed or unknown argument, ``depth``
  without ``follow``), and not one of Scrapyd's own parameter names;
* ``settings``: upper-case names, values of the setting's type
  (``scraperq/settingtypes.py``);
* exactly one of ``cron`` (with ``timezone``, default UTC) and ``interval_seconds``
  (at least 1); a cron expression that never fires is refused.

A refusal is a :class:`FieldError` naming the field (``args.url``,
``settings.DOWNLOAD_DELAY``, ``cron``): the CLI turns it into one line and exit
status 2, the API into 422 with the field in ``details``.

Runs asked for by hand are *requested* in the database (``job_runs`` status
``requested``) and dispatched by the leading daemon within two seconds, so
``scraperq schedule run`` works from any machine that reaches the database.
Without a leading daemon (no fresh heartbeat in ``scheduler_leader``) the
request is refused and nothing is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.dispatch import new_job_id
from scheduler.firing import overlap_reason
from scheduler.triggers import check_cron, cron_trigger, first_fire_time
from scraperq.arguments import ArgumentError
from scraperq.errors import BadInput, ConfigError, Conflict
from scraperq.settingtypes import setting_problem
from scraperq.spiders.arguments import SpiderInfo, project_spiders
from scraperq.storage import jobs, leader
from scraperq.storage import schedules as store
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.jobs import JobRun
from scraperq.storage.schedules import Schedule

_SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NO_ZONE_FOR_INTERVALS = "a time zone applies to cron schedules; an interval is elapsed time"
# A leader whose last heartbeat is older than this is taken for gone (it beats every second).
LEADER_SILENT_AFTER = 10.0


class FieldError(BadInput):
    """A refused value; ``field`` names it as the API does (``cron``, ``args.url``, ``settings.X``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class NewSchedule:
    name: str
    spider: str
    cron: str | None = None
    timezone: str | None = None
    interval_seconds: int | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleChange:
    """What to change; None (or empty) leaves a field as it is.

    Giving ``cron`` turns an interval schedule into a cron one and ``interval_seconds`` the
    reverse; ``args``/``settings`` entries are set, and names in ``unset_args``/``unset_settings``
    removed.
    """

    spider: str | None = None
    cron: str | None = None
    timezone: str | None = None
    interval_seconds: int | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    unset_args: Iterable[str] = ()
    settings: Mapping[str, str] = field(default_factory=dict)
    unset_settings: Iterable[str] = ()
    enabled: bool | None = None


@dataclass(frozen=True)
class _Checked:
    spider: str
    cron: str | None
    interval_seconds: int | None
    timezone: str
    args: dict[str, str]
    settings: dict[str, str]

    def columns(self) -> dict[str, Any]:
        """The checked values, as the storage functions take them."""
        return dict(vars(self))


class ScheduleService:
    """The operations, over one database and the project's settings (a mapping, Scrapy's or ours)."""

    def __init__(
        self,
        db: Database,
        settings: Mapping[str, Any] | Any,
        *,
        clock: Callable[[], datetime] = utcnow,
        spiders: Callable[[], Mapping[str, SpiderInfo]] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._spiders = spiders or (lambda: project_spiders(settings.get("SCRAPERQ_SOURCES_DIR")))

    # -- checks ---------------------------------------------------------------------------

    def spiders(self) -> Mapping[str, SpiderInfo]:
        return self._spiders()

    def spider(self, name: str) -> SpiderInfo:
        known = self.spiders()
        if name not in known:
            raise FieldError("spider", f"unknown spider {name!r}: this project has {', '.join(sorted(known))}")
        return known[name]

    def check_args(self, spider: SpiderInfo, args: Mapping[str, str]) -> dict[str, str]:
        for key in args:
            try:
                store.check_args({key: args[key]})
            except BadInput as exc:
                raise FieldError(f"args.{key}", str(exc)) from None
        try:
            spider.check(args)
        except ArgumentError as exc:
            raise FieldError(f"args.{exc.name}", exc.reason) from None
        return dict(args)

    def check_settings(self, settings: Mapping[str, str]) -> dict[str, str]:
        for key, value in settings.items():
            if not _SETTING_NAME.fullmatch(key or ""):
                raise FieldError(f"settings.{key}", "Scrapy settings are upper case, like DOWNLOAD_DELAY")
            problem = setting_problem(key, str(value), self.settings)
            if problem is not None:
                raise FieldError(f"settings.{key}", f"{value!r}: {problem}")
        return dict(settings)

    def check_timing(
        self, cron: str | None, timezone: str | None, interval: int | None, now: datetime
    ) -> tuple[str | None, int | None, str]:
        """(cron, interval, time zone) as stored; ``timezone`` is only read with a cron expression."""
        if (cron is None) == (interval is None):
            raise FieldError("cron", "give exactly one of a cron expression and an interval")
        if cron is not None:
            zone = timezone or "UTC"
            try:
                store.check_timezone(zone)
            except BadInput as exc:
                raise FieldError("timezone", str(exc)) from None
            try:
                check_cron(cron, zone, now=now)
            except BadInput as exc:
                raise FieldError("cron", str(exc)) from None
            return cron_trigger(cron, zone).spec.expression, None, zone
        assert interval is not None
        if interval < 1:
            raise FieldError("interval_seconds", "the interval must be at least 1 second")
        if interval > store.MAX_INTERVAL_SECONDS:
            raise FieldError("interval_seconds", f"the interval must be at most {store.MAX_INTERVAL_SECONDS} seconds")
        return None, interval, "UTC"

    def _check(
        self,
        spider: str,
        cron: str | None,
        timezone: str | None,
        interval: int | None,
        args: Mapping[str, str],
        settings: Mapping[str, str],
        now: datetime,
    ) -> _Checked:
        cron, interval, zone = self.check_timing(cron, timezone, interval, now)
        info = self.spider(spider)
        return _Checked(spider, cron, interval, zone, self.check_args(info, args), self.check_settings(settings))

    # -- operations -------------------------------------------------------------------------

    def add(self, new: NewSchedule) -> Schedule:
        try:
            store.check_name(new.name)
        except BadInput as exc:
            raise FieldError("name", str(exc)) from None
        if new.interval_seconds is not None and new.timezone is not None:
            raise FieldError("timezone", _NO_ZONE_FOR_INTERVALS)
        now = self.clock()
        checked = self._check(new.spider, new.cron, new.timezone, new.interval_seconds, new.args, new.settings, now)
        next_fire = _first(checked, anchor=now, after=now) if new.enabled else None
        return store.add_schedule(
            self.db, name=new.name, next_fire_time=next_fire, enabled=new.enabled, now=now, **checked.columns()
        )

    def edit(self, name: str, change: ScheduleChange) -> Schedule:
        """Change a schedule in place (same id, same history); the next run is computed again when its
        timing changes or it is resumed, from now (fire times while paused are not owed)."""
        if change.cron is not None and change.interval_seconds is not None:
            raise FieldError("cron", "give exactly one of a cron expression and an interval")
        now = self.clock()
        with self.db.transaction() as cur:
            current = store.lock_schedule_named(cur, name)
            cron, interval, timezone = current.cron, current.interval_seconds, current.timezone
            if change.cron is not None:
                cron, interval = change.cron, None
                timezone = change.timezone or (current.timezone if current.cron is not None else "UTC")
            elif change.interval_seconds is not None:
                cron, interval = None, change.interval_seconds
            elif change.timezone is not None:
                timezone = change.timezone
            if cron is None and change.timezone is not None:
                raise FieldError("timezone", _NO_ZONE_FOR_INTERVALS)
            args = {**current.args, **change.args}
            for key in change.unset_args:
                if key not in args:
                    raise FieldError(f"args.{key}", "the schedule has no such argument to unset")
                del args[key]
            settings = {**current.settings, **change.settings}
            for key in change.unset_settings:
                if key not in settings:
                    raise FieldError(f"settings.{key}", "the schedule has no such setting to unset")
                del settings[key]
            checked = self._check(change.spider or current.spider, cron, timezone, interval, args, settings, now)
            enabled = current.enabled if change.enabled is None else change.enabled
            timing_changed = (checked.cron, checked.interval_seconds, checked.timezone) != (
                current.cron,
                current.interval_seconds,
                current.timezone,
            )
            if not enabled:
                next_fire = None
            elif timing_changed or not current.enabled:
                next_fire = _first(checked, anchor=current.created_at, after=now)
            else:
                next_fire = current.next_fire_time
            return store.update_schedule(
                cur, current.id, enabled=enabled, next_fire_time=next_fire, now=now, **checked.columns()
            )

    def pause(self, name: str) -> Schedule:
        return self.edit(name, ScheduleChange(enabled=False))

    def resume(self, name: str) -> Schedule:
        return self.edit(name, ScheduleChange(enabled=True))

    def remove(self, name: str) -> None:
        store.remove_schedule(self.db, name)

    def request_run(self, name: str) -> JobRun:
        """Ask the leading daemon to run the schedule now; Conflict while its previous run is going,
        ConfigError when no daemon leads (nothing is recorded then)."""
        now = self.clock()
        beat = leader.last_beat(self.db)
        if beat is None or not beat.fresh(now, within=LEADER_SILENT_AFTER):
            since = (
                f" (the last one, {beat.holder}, was heard at {beat.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)"
                if beat
                else ""
            )
            raise ConfigError(f"no scheduler daemon is running to dispatch the run{since}: start `scraperq scheduler`")
        with self.db.transaction() as cur:
            schedule = store.lock_schedule_named(cur, name)
            active = jobs.active_runs_of(cur, schedule.id)
            if active:
                raise Conflict(f"schedule {name!r} is still busy: {overlap_reason(active[-1])}")
            run_id = jobs.request_run(
                cur, schedule_id=schedule.id, spider=schedule.spider, job_id=new_job_id(), now=now
            )
        return jobs.get_run(self.db, run_id)


def _first(checked: _Checked, *, anchor: datetime, after: datetime) -> datetime | None:
    return first_fire_time(
        cron=checked.cron,
        timezone=checked.timezone,
        interval_seconds=checked.interval_seconds,
        anchor=anchor,
        after=after,
    )
