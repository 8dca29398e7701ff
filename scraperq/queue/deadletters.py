"""Dead letters: what ``NAME:dead`` holds, listed, put back on ``NAME:start_urls`` or deleted.

A dead letter is the JSON a worker wrote when it refused an entry
(:func:`scraperq.queue.redisqueue.dead_letter`): ``payload`` (cut to 2,000
characters, with ``payload_bytes`` telling the full size when it was), ``reason``,
``spider``, ``worker``, ``at``, and ``deliveries`` or ``payload_base64`` (the exact
bytes of a payload that was not UTF-8) when they apply. The list is newest first.

Letters have no id of their own in Redis; :attr:`DeadLetter.id` is the first 12 hex
digits of the SHA-1 of the letter as stored, stable while it stays there, which
``scraperq dead requeue ID...`` and ``POST /api/dead`` take. Requeueing and purging
move or remove each letter in one atomic step (``LREM`` of that exact letter), so
two people doing it at once never requeue one letter twice.

No Scrapy or Twisted here: the scheduler daemon imports this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scraperq.queue import defaults

SCAN_COUNT = 500
# Letters read per LRANGE call when the whole list is walked.
PAGE = 1000

# KEYS: dead, start_urls (or nothing to requeue to: purge)
# ARGV: per letter: the letter as stored, the payload to push (requeue only)
_MOVE = r"""
local n = 0
local step = KEYS[2] and 2 or 1
for i = 1, #ARGV, step do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    if KEYS[2] then redis.call('LPUSH', KEYS[2], ARGV[i + 1]) end
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class DeadLetter:
    spider: str
    raw: bytes  # as stored: what LREM matches
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return hashlib.sha1(self.raw).hexdigest()[:12]

    @property
    def reason(self) -> str:
        return str(self.data.get("reason", ""))

    @property
    def at(self) -> str | None:
        at = self.data.get("at")
        return str(at) if at is not None else None

    @property
    def excerpt(self) -> str:
        return str(self.data.get("payload", ""))

    @property
    def truncated(self) -> bool:
        return "payload_bytes" in self.data

    def payload(self) -> bytes | None:
        """The payload as it arrived, to push again; None when the letter kept only part of it."""
        if self.truncated:
            return None
        encoded = self.data.get("payload_base64")
        if isinstance(encoded, str):
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                return None
        payload = self.data.get("payload")
        return payload.encode("utf-8") if isinstance(payload, str) else None

    def as_json(self) -> dict[str, Any]:
        """What ``--json`` and the API show: the letter's fields and its id."""
        shown = {k: v for k, v in self.data.items() if k != "payload_base64"}
        return {"id": self.id, "spider": self.spider, **shown, "requeueable": self.payload() is not None}

    @classmethod
    def read(cls, spider: str, raw: bytes) -> DeadLetter:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        ours = isinstance(data, dict) and isinstance(data.get("payload"), str) and isinstance(data.get("reason"), str)
        if not ours:
            # not ours (someone pushed it by hand): show all of it as the payload
            data = {"payload": raw.decode("utf-8", "backslashreplace"), "reason": "(not a dead letter)"}
        return cls(spider, raw, data)


@dataclass
class Moved:
    """What a requeue or purge did, per spider."""

    done: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[DeadLetter, str]] = field(default_factory=list)  # letter, why not
    missing: list[str] = field(default_factory=list)  # ids asked for and not found

    @property
    def total(self) -> int:
        return sum(self.done.values())


def dead_key(spider: str) -> str:
    return defaults.DEAD_KEY % {"spider": spider, "name": spider}


def dead_spiders(client: Any) -> list[str]:
    """Spiders with a non-empty ``NAME:dead`` list, by name."""
    suffix = defaults.DEAD_KEY % {"spider": "", "name": ""}
    names = set()
    for key in client.scan_iter(match="*" + suffix, count=SCAN_COUNT, _type="list"):
        text = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key
        names.add(text[: -len(suffix)])
    return sorted(names)


def _spiders(client: Any, spider: str | None) -> list[str]:
    return [spider] if spider else dead_spiders(client)


def counts(client: Any, spider: str | None = None) -> dict[str, int]:
    spiders = _spiders(client, spider)
    pipe = client.pipeline(transaction=False)
    for name in spiders:
        pipe.llen(dead_key(name))
    return {name: int(n) for name, n in zip(spiders, pipe.execute(), strict=True) if n}


def list_letters(client: Any, spider: str | None = None, *, limit: int = 50, offset: int = 0) -> list[DeadLetter]:
    """Newest first within each spider, spiders by name; at most ``limit`` from ``offset`` on."""
    out: list[DeadLetter] = []
    skip = offset
    for name in _spiders(client, spider):
        if len(out) >= limit:
            break
        length = int(client.llen(dead_key(name)))
        if skip >= length:
            skip -= length
            continue
        raw = client.lrange(dead_key(name), skip, skip + (limit - len(out)) - 1)
        skip = 0
        out.extend(DeadLetter.read(name, item) for item in raw)
    return out


def _all_letters(client: Any, spider: str) -> Iterable[DeadLetter]:
    start = 0
    while True:
        raw = client.lrange(dead_key(spider), start, start + PAGE - 1)
        yield from (DeadLetter.read(spider, item) for item in raw)
        if len(raw) < PAGE:
            return
        start += PAGE


def _chosen(client: Any, spider: str | None, ids: Sequence[str]) -> tuple[dict[str, list[DeadLetter]], list[str]]:
    wanted = {i.lower() for i in ids}
    chosen: dict[str, list[DeadLetter]] = {}
    found: set[str] = set()
    for name in _spiders(client, spider):
        letters = [x for x in _all_letters(client, name) if not wanted or x.id in wanted]
        found |= {x.id for x in letters}
        if letters:
            chosen[name] = letters
    return chosen, sorted(wanted - found)


def requeue(
    client: Any, spider: str | None = None, ids: Sequence[str] = (), *, start_urls_template: str | None = None
) -> Moved:
    """Put the letters (all, or those with the given ids) back on their spider's ``start_urls``.

    A letter whose payload was cut stays where it is (skipped, saying so).
    """
    chosen, missing = _chosen(client, spider, ids)
    moved = Moved(missing=missing)
    script = client.register_script(_MOVE)
    template = start_urls_template or defaults.START_URLS_KEY
    for name, letters in chosen.items():
        args: list[bytes] = []
        for letter in letters:
            payload = letter.payload()
            if payload is None:
                moved.skipped.append((letter, "only the first 2,000 characters of its payload were kept"))
                continue
            args += [letter.raw, payload]
        if args:
            key = template % {"name": name, "spider": name}
            moved.done[name] = int(script(keys=[dead_key(name), key], args=args))
    return moved


def purge(client: Any, spider: str | None = None, ids: Sequence[str] = ()) -> Moved:
    """Delete the letters (all, or those with the given ids)."""
    if not ids:
        moved = Moved()
        for name in _spiders(client, spider):
            pipe = client.pipeline(transaction=True)
            pipe.llen(dead_key(name)).delete(dead_key(name))
            count, _ = pipe.execute()
            if count:
                moved.done[name] = int(count)
        return moved
    chosen, missing = _chosen(client, spider, ids)
    moved = Moved(missing=missing)
    script = client.register_script(_MOVE)
    for name, letters in chosen.items():
        moved.done[name] = int(script(keys=[dead_key(name)], args=[x.raw for x in letters]))
    return moved
