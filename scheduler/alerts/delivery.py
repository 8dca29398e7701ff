"""Sending alerts: one courier thread per destination, driven from the ``alert_deliveries`` table.

A courier takes the deliveries that are due for its destination, leases each
(so no other daemon sends it meanwhile), POSTs it, and records what happened:
delivered, or the error and when to try again (``SCRAPERQ_ALERT_RETRY_BACKOFF``
doubled each time up to ``SCRAPERQ_ALERT_RETRY_MAX_DELAY``, or the receiver's
``Retry-After`` within that cap), or given up after
``SCRAPERQ_ALERT_MAX_ATTEMPTS`` tries or an answer that another try would not
change (a 4xx other than 408/425/429, a redirect). Since the table is the queue,
a daemon that restarts, or one that takes over from a dead leader, carries on
with what was pending, and the daemon's own loop never waits on a receiver.

Each POST has a deadline for the whole call (``SCRAPERQ_ALERT_TIMEOUT``): a
watchdog shuts the socket down when it passes, so a receiver that accepts the
connection and then trickles or says nothing costs one timeout, not more. A
lease lasts longer than that deadline, so a lease runs out only when its daemon
is gone. Redirects are not followed, proxies from the environment not used, and
URLs appear in logs only as scheme, host and port (a Slack URL's path is its
secret).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from scheduler.alerts.config import AlertConfig, Destination
from scheduler.alerts.events import one_line, slack_text
from scraperq.errors import StorageUnavailable
from scraperq.storage import alerts as store
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)

USER_AGENT = "scraperq-alerts/1"
# Answers that say "try later"; any other 4xx (and a redirect) says "this will not work".
_RETRY_STATUSES = frozenset({408, 425, 429})
# A lease outlives the call it covers by this much (the time to record the outcome).
_LEASE_MARGIN = 30.0
# Longest sleep of an idle courier: how soon it sees deliveries another daemon left due.
_IDLE = 30.0
# How often a courier of a daemon that does not lead looks whether it does now.
_STANDBY = 1.0
_BATCH = 20


@dataclass(frozen=True)
class Answer:
    """How one POST went."""

    delivered: bool
    error: str | None = None
    retry: bool = True  # whether another try may go differently
    retry_after: float | None = None  # the receiver's Retry-After, in seconds


class Poster:
    """POSTs JSON with a deadline on the whole call; :meth:`abort` ends the call under way."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current: http.client.HTTPConnection | None = None
        self._aborted = False

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=self.timeout)
        sent_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            sent_headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _shut(connection)

        watchdog = threading.Timer(self.timeout, expire)
        watchdog.daemon = True
        with self._lock:
            if self._aborted:
                return Answer(False, "not sent: the daemon is stopping")
            self._current = connection
        watchdog.start()
        try:
            connection.request("POST", target, body=body, headers=sent_headers)
            response = connection.getresponse()
            text = response.read(2048)
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                return Answer(False, f"no answer within {self.timeout:g} s")
            if self._aborted:
                return Answer(False, "interrupted: the daemon stopped")
            return Answer(False, _describe(exc))
        finally:
            watchdog.cancel()
            with self._lock:
                self._current = None
            connection.close()
        return _judge(response.status, response.reason, response.getheader("Retry-After"), text)

    def abort(self) -> None:
        """End the call under way, if any, and refuse new ones."""
        with self._lock:
            self._aborted = True
            if self._current is not None:
                _shut(self._current)


def _shut(connection: http.client.HTTPConnection) -> None:
    # shutdown() wakes a recv() blocked in another thread; close() alone would not.
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return f"unreadable answer: {type(exc).__name__} {one_line(exc, 200)}".rstrip()
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return one_line(text, 300)


def _judge(status: int, reason: str, retry_after: str | None, body: bytes) -> Answer:
    if 200 <= status < 300:
        return Answer(True)
    said = one_line(body.decode("utf-8", "replace"), 200)
    error = f"HTTP {status} {one_line(reason, 60)}".rstrip() + (f": {said}" if said else "")
    if 300 <= status < 400:
        return Answer(False, error + " (redirects are not followed: set the final URL)", retry=False)
    if 400 <= status < 500 and status not in _RETRY_STATUSES:
        return Answer(False, error, retry=False)
    return Answer(False, error, retry_after=_seconds(retry_after))


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not retry_after:
        return None
    text = retry_after.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def body_for(destination: str, payload: dict) -> bytes:
    """What a destination receives: the event itself, or a Slack message."""
    message = payload if destination == "webhook" else {"text": slack_text(payload)}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Courier:
    """Delivers what is due for one destination, in a thread, while this daemon leads."""

    def __init__(
        self,
        db: Database,
        destination: Destination,
        config: AlertConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.destination = destination
        self.config = config
        self.clock = clock
        self.poster = Poster(timeout=config.timeout)
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._db_failing = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, is_leader: threading.Event) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(is_leader,), name=f"alerts-{self.destination.name}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self, *, grace: float = 2.0) -> None:
        """Stop; a call still under way after ``grace`` seconds is cut off, recorded failed and tried again by
        the next daemon (at-least-once: the receiver may have got it)."""
        self._stop.set()
        self._wakeup.set()
        if self._thread is None:
            return
        self._thread.join(grace)
        if self._thread.is_alive():
            self.poster.abort()
            self._thread.join(self.config.timeout + 5)

    def _run(self, is_leader: threading.Event) -> None:
        while not self._stop.is_set():
            self._wakeup.clear()  # before looking: a wake-up from now on is seen or ends the wait
            delay = _STANDBY  # a standby looks again soon: it may lead at any moment
            if is_leader.is_set():
                try:
                    delay = self._guarded(lambda: self.deliver_due(is_leader))
                except Exception:  # a bug here must not take the scheduling down with it: say it, go on
                    logger.exception("Delivering alerts to %s failed", self.destination.name)
            self._wakeup.wait(delay)

    def _guarded(self, step: Callable[[], float]) -> float:
        try:
            delay = step()
        except StorageUnavailable as exc:
            if not self._db_failing:
                logger.error("Alert deliveries to %s wait for the database: %s", self.destination.name, exc)
            self._db_failing = True
            return min(_IDLE, 2.0)
        if self._db_failing:
            logger.info("Alert deliveries to %s go on: the database is back", self.destination.name)
            self._db_failing = False
        return delay

    # -- one round ---------------------------------------------------------------------------

    def deliver_due(self, is_leader: threading.Event | None = None) -> float:
        """Deliver every due delivery (a batch at a time); seconds until the next one falls due."""
        while True:
            due = store.due_deliveries(self.db, self.destination.name, now=self.clock(), limit=_BATCH)
            for delivery in due:
                if self._stop.is_set() or (is_leader is not None and not is_leader.is_set()):
                    return _STANDBY
                self.deliver(delivery)
            if len(due) < _BATCH:
                break
        upcoming = store.next_due_at(self.db, self.destination.name)
        if upcoming is None:
            return _IDLE
        return min(_IDLE, max(0.05, (upcoming - self.clock()).total_seconds()))

    def deliver(self, delivery: store.DueDelivery) -> None:
        now = self.clock()
        lease = timedelta(seconds=self.config.timeout + _LEASE_MARGIN)
        attempt = store.lease_delivery(self.db, delivery.id, now=now, until=now + lease)
        if attempt is None:  # another daemon holds it, or it was settled meanwhile
            return
        headers = {
            "X-Scraperq-Event-Id": quote(delivery.event_id, safe=":/._-@"),
            "X-Scraperq-Event-Type": delivery.type,
            "X-Scraperq-Attempt": str(attempt),
        }
        answer = self.poster.post(self.destination.url, body_for(delivery.destination, delivery.payload), headers)
        where = f"{self.destination.name} {self.destination.shown}"
        if answer.delivered:
            store.delivery_succeeded(self.db, delivery.id, at=self.clock())
            logger.info("Alert %s delivered to %s (attempt %d)", delivery.event_id, where, attempt)
            return
        error = answer.error or "failed"
        if not answer.retry or attempt >= self.config.max_attempts:
            store.delivery_failed(self.db, delivery.id, error=error, retry_at=None)
            logger.error(
                "Alert %s not delivered to %s, given up after %d attempts: %s", delivery.event_id, where, attempt, error
            )
            return
        delay = self.config.retry_delay(attempt)
        if answer.retry_after is not None:
            delay = min(self.config.retry_max_delay, max(delay, answer.retry_after))
        store.delivery_failed(self.db, delivery.id, error=error, retry_at=self.clock() + timedelta(seconds=delay))
        logger.warning(
            "Alert %s: delivery to %s failed (attempt %d, next in %.0f s): %s",
            delivery.event_id,
            where,
            attempt,
            delay,
            error,
        )
