"""What one worker holds from the queue, and when each held entry is done with.

Every request taken from Redis carries its entry id in ``meta["_scraperq_entry"]``
and goes through these states:

``ready``        waiting in the scheduler for the engine to ask for it
``waiting``      asked for by the engine, but its site's turn has not come (see
                 :mod:`scraperq.queue.slotgate`): still in the scheduler
``downloading``  handed to the engine; no response yet
``scraping``     its response arrived (``response_received``): callback and items running

A request that comes back to the scheduler carrying the id of an entry that is
still *downloading* replaces it (a retry or a redirect of it): the scheduler
queues it and settles the old entry in one step (a *handoff*). Once *scraping*,
requests carrying the id are children that copied the parent's meta: new entries.

An entry is *finished* when its request has left the engine: the engine keeps a
request in its slot until the response went through the spider and the items
through the pipelines. Finished entries wait for the database commit of what
they produced, then are acknowledged (see ``CrawlStore.after_commit``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Iterator
from dataclasses import dataclass

from scrapy import Request

from scraperq.queue.entries import Entry

ENTRY_META = "_scraperq_entry"
LEASE_META = "_scraperq_site_lease"  # (site, token): the site concurrency lease a request holds (slotgate.py)

READY = "ready"
WAITING = "waiting"
DOWNLOADING = "downloading"
SCRAPING = "scraping"
_IN_ENGINE = (DOWNLOADING, SCRAPING)


@dataclass
class Held:
    entry: Entry
    request: Request
    state: str


class HeldEntries:
    def __init__(self) -> None:
        self._held: dict[str, Held] = {}
        self._ready: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[Held]:
        return iter(list(self._held.values()))

    def add(self, entry: Entry, request: Request) -> Held:
        request.meta[ENTRY_META] = entry.id
        held = Held(entry, request, READY)
        self._held[entry.id] = held
        self._ready.append(entry.id)
        return held

    def of(self, request: Request) -> Held | None:
        entry_id = request.meta.get(ENTRY_META)
        return self._held.get(entry_id) if entry_id is not None else None

    def next_ready(self) -> Held | None:
        while self._ready:
            held = self._held.get(self._ready.popleft())
            if held is not None and held.state == READY:
                held.state = DOWNLOADING
                return held
        return None

    def wait(self, held: Held) -> None:
        """``held`` (from next_ready) waits for its site's turn before it goes to the engine."""
        held.state = WAITING

    def go(self, held: Held) -> None:
        """A waiting entry's turn came: it goes to the engine now."""
        held.state = DOWNLOADING

    def ready_count(self) -> int:
        return len(self._ready)  # a ready entry leaves only through next_ready() or not_started()

    def handoff(self, request: Request) -> Entry | None:
        """The entry ``request`` replaces, if it is a retry or redirect of one still downloading."""
        held = self.of(request)
        if held is None or held.state != DOWNLOADING:
            return None
        del self._held[held.entry.id]
        return held.entry

    def response_received(self, request: Request) -> None:
        held = self.of(request)
        if held is not None and held.state == DOWNLOADING:
            held.state = SCRAPING

    def finished(self, in_engine: Container[Request]) -> list[Entry]:
        """Entries whose request has left the engine; they are no longer tracked here."""
        done = [h for h in self._held.values() if h.state in _IN_ENGINE and h.request not in in_engine]
        for held in done:
            del self._held[held.entry.id]
        return [held.entry for held in done]

    def not_started(self) -> list[Entry]:
        """Entries the engine never got (ready or waiting); no longer tracked here."""
        waiting = [h for h in self._held.values() if h.state in (READY, WAITING)]
        for held in waiting:
            del self._held[held.entry.id]
        self._ready.clear()
        return [held.entry for held in waiting]
