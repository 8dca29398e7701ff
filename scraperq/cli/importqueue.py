"""``scraperq import-queue --from-scrapy-redis SPIDER``: a stock scrapy-redis queue into the shared queue.

Reads ``SPIDER:requests`` as scrapy-redis left it (``--key`` for another name,
``SCHEDULER_QUEUE_KEY`` as scrapy-redis spells it): a sorted set (its default
``PriorityQueue``) or a list (``FifoQueue``, or ``LifoQueue`` with ``--lifo`` or when
``SCHEDULER_QUEUE_CLASS`` names it), in the order scrapy-redis would have popped
it. Each pickled request is read with an unpickler that admits only plain data
(:mod:`scraperq.queue.scrapyredisimport`), becomes a task (``tasks.source``
``import``) and a JSON entry of the shared queue for that task, a few hundred at a
time: tasks are created and entries queued as it goes. What is refused is counted,
each reason printed once, and left where it was.

The shared queue needs the names scrapy-redis used (``SPIDER:requests`` is its
queue, ``SPIDER:dupefilter`` its seen-set, of other types), so the old keys are
first renamed, unchanged, to ``...:scrapy-redis``; they stay there unless
``--delete-source`` is given, which removes each imported entry once queued (and
the old seen-set, which scraperq does not use: its seen-set is per task).

Settings: ``REDIS_URL`` (required), ``DATABASE_URL``, ``SCRAPERQ_ALLOW_PRIVATE``,
``SCHEDULER_QUEUE_KEY``, ``SCHEDULER_DUPEFILTER_KEY``, ``SCHEDULER_QUEUE_CLASS``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import redis

from scraperq.cli.common import open_db, parse_positive_int, project_settings
from scraperq.cli.enqueue import check_spider
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.payloads import mark_unqueued, parse_allow_private, queue_client
from scraperq.queue.entries import Entry
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import PushItem, RedisQueue
from scraperq.queue.scrapyredisimport import ImportedRequest, imported_request
from scraperq.queue.taskrows import insert_pending
from scraperq.storage.tasks import NewTask

MOVED_SUFFIX = ":scrapy-redis"
SOURCE = "import"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-queue",
        help="move a scrapy-redis queue into the shared queue",
        description="Move the pickled requests of a stock scrapy-redis queue into the shared queue as JSON, "
        "a task for each; only plain data is unpickled.",
    )
    parser.add_argument("--from-scrapy-redis", dest="spider", required=True, metavar="SPIDER", help="the spider")
    parser.add_argument("--key", metavar="KEY", help="the scrapy-redis queue key (default: SPIDER:requests)")
    parser.add_argument(
        "--lifo", action="store_true", help="the old queue is a list of LifoQueue (SpiderStack): newest first"
    )
    parser.add_argument("--delete-source", action="store_true", help="remove what was imported from the old keys")
    parser.add_argument("--batch", default="500", metavar="N", help="requests per transaction and push (500)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = project_settings()
    batch = max(1, parse_positive_int("--batch", args.batch))
    check_spider(settings, args.spider)
    names = {"spider": args.spider, "name": args.spider}
    source = args.key or str(settings.get("SCHEDULER_QUEUE_KEY") or "%(spider)s:requests") % names
    old_seen = str(settings.get("SCHEDULER_DUPEFILTER_KEY") or "%(spider)s:dupefilter") % names
    queue_class = str(settings.get("SCHEDULER_QUEUE_CLASS") or "").lower()
    lifo = args.lifo or "lifo" in queue_class or "stack" in queue_class
    allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
    client = queue_client(settings)
    try:
        queue = RedisQueue(client, QueueKeys.for_spider(args.spider, settings))
        source = _move_aside(client, source, queue.keys.requests, args.spider)
        seen_moved = _move_seen_aside(client, old_seen, queue.keys.dupefilter, delete=args.delete_source)
        with open_db() as db:
            counts = _import(client, db, queue, source, args, allow=allow, batch=batch, lifo=lifo)
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed during the import: {exc}") from None
    finally:
        client.close()
    imported, refused = counts["imported"], sum(n for k, n in counts.items() if k != "imported")
    left = "" if args.delete_source else f"; the old queue is kept in {source}"
    if seen_moved:
        left += f"; its seen-set in {seen_moved}"
    print(f"imported {imported} requests of {args.spider} as tasks, refused {refused}{left}")
    return 0


def _move_aside(client: redis.Redis, source: str, requests_key: str, spider: str) -> str:
    """The key to read: ``source``, renamed out of the shared queue's way if it has the queue's name."""
    kind = client.type(source).decode()
    if kind == "none":
        moved = source + MOVED_SUFFIX
        if source == requests_key and client.exists(moved):
            return moved  # moved by an earlier run that stopped half-way: carry on from there
        raise BadInput(f"{source} does not exist: nothing to import (give the queue's key with --key)")
    if kind not in ("zset", "list"):
        raise BadInput(f"{source} is a Redis {kind}, not a scrapy-redis queue (a sorted set or a list)")
    if source != requests_key:
        return source
    first = client.zrange(source, 0, 0) if kind == "zset" else client.lrange(source, 0, 0)
    if first and _is_entry(first[0]):
        raise BadInput(f"{source} already holds the shared queue of {spider}: nothing to import")
    moved = source + MOVED_SUFFIX
    if not client.renamenx(source, moved):
        raise BadInput(f"{moved} already exists (an earlier import): import it with --key {moved}, or delete it")
    return moved


def _move_seen_aside(client: redis.Redis, old_seen: str, seen_key: str, *, delete: bool) -> str | None:
    """scrapy-redis' seen-set (a set) where scraperq's (a hash) goes: moved aside, or deleted."""
    if old_seen != seen_key or client.type(old_seen) != b"set":
        return None
    if delete:
        client.delete(old_seen)
        return None
    moved = old_seen + MOVED_SUFFIX
    client.delete(moved)  # an earlier import's copy of the same set
    client.rename(old_seen, moved)
    return moved


def _is_entry(member: bytes) -> bool:
    try:
        Entry.parse(member)
    except ValueError:
        return False
    return True


def _members(client: redis.Redis, key: str, batch: int, *, lifo: bool) -> Iterator[list[bytes]]:
    """The queue's members in the order scrapy-redis pops them, a batch at a time."""
    if client.type(key) == b"zset":
        members = client.zrange(key, 0, -1)  # lowest score (highest priority) first
    else:
        members = client.lrange(key, 0, -1)
        if not lifo:
            members.reverse()  # FifoQueue pushes left and pops right
    for start in range(0, len(members), batch):
        yield members[start : start + batch]


def _import(
    client: redis.Redis,
    db: Any,
    queue: RedisQueue,
    source: str,
    args: argparse.Namespace,
    *,
    allow: Any,
    batch: int,
    lifo: bool,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    zset = client.type(source) == b"zset"
    for members in _members(client, source, batch, lifo=lifo):
        accepted: list[tuple[bytes, ImportedRequest]] = []
        for member in members:
            try:
                accepted.append((member, imported_request(member, allow=allow)))
            except BadInput as exc:
                reason = str(exc)
                if not counts[reason]:
                    print(f"refused: {reason}", file=sys.stderr)
                counts[reason] += 1
        if not accepted:
            continue
        new = [NewTask(spider=args.spider, url=r.url, priority=r.priority, source=SOURCE) for _, r in accepted]
        with db.transaction() as cur:
            ids = insert_pending(cur, new)
        items = [
            PushItem(body=r.body(task_id), task=task_id, priority=r.priority)
            for (_, r), task_id in zip(accepted, ids, strict=True)
        ]
        try:
            queue.push(items)
        except redis.RedisError as exc:  # the tasks must not stay pending for ever
            mark_unqueued(db, ids, f"could not be queued: {type(exc).__name__}: {exc}")
            raise
        counts["imported"] += len(items)
        if args.delete_source:
            done = [member for member, _ in accepted]
            if zset:
                client.zrem(source, *done)
            else:
                for member in done:
                    client.lrem(source, 1, member)
    return counts
