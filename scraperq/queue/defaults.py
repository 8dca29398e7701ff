"""Redis keys and defaults of the shared queue, in one place (as scrapy-redis' ``defaults.py``).

Keys of a spider named NAME. The first four are scrapy-redis' names and stay
compatible with its tools (``redis-cli LPUSH NAME:start_urls URL``); the rest
are scraperq's.

=========================  ======  ==============================================================
``NAME:start_urls``        list    payloads pushed by people, ``scraperq enqueue`` and the API:
                                   a bare URL or ``{"url", "task_id"?, "priority"?, "meta"?}``.
                                   Producers ``LPUSH``; workers take from the other end (FIFO).
``NAME:requests``          zset    queued entries, score ``-priority + tag / 2**32``: within a
                                   priority, tasks take turns (the tag, see ``scripts.py``);
                                   members begin with a sequence number, so equal scores come
                                   out in FIFO order.
``NAME:requests:clock``    string  the tag of the last entry taken (fair share's clock).
``NAME:requests:turn:T``   string  the last tag given to task T (``-`` for no task); expires.
``NAME:dupefilter``        hash    the seen-set's index: task id -> fingerprints recorded.
``NAME:dupefilter:T:L:S``  set     fingerprints of task T, level L, shard S (see dupefilter.py).
``NAME:dead``              list    dead letters, newest first: JSON ``{payload, reason, ...}``.
``NAME:delayed``           zset    entries waiting for a retry, score = due time (epoch seconds).
``NAME:workers``           zset    live workers, score = when their lease runs out.
``NAME:held:WORKER``       hash    entry id -> entry: what one worker holds under its lease.
``NAME:outstanding``       hash    task id -> entries queued, delayed or held for that task.
``NAME:seq``               string  the entry sequence.
``NAME:epoch``             string  this copy of the queue's name, set when it was built from the
                                   database; gone means Redis lost the queue (see rebuild.py).
``NAME:rebuild``           string  the lock of the worker rebuilding the queue, with a lease.
=========================  ======  ==============================================================

An *entry* is ``ID|DELIVERIES|PRIORITY|TASK|KIND|BODY`` (see :mod:`scraperq.queue.entries`):
a request as JSON (kind ``r``) or a start payload taken from ``start_urls`` that
has not become a request yet (kind ``s``). Nothing in Redis is pickled.
"""

from __future__ import annotations

# scrapy-redis' settings and key templates, same names and defaults.
START_URLS_KEY = "%(name)s:start_urls"  # setting REDIS_START_URLS_KEY
QUEUE_KEY = "%(spider)s:requests"  # setting SCHEDULER_QUEUE_KEY
DUPEFILTER_KEY = "%(spider)s:dupefilter"  # setting SCHEDULER_DUPEFILTER_KEY

# scraperq's keys (not configurable: derived from the spider name).
DEAD_KEY = "%(spider)s:dead"
DELAYED_KEY = "%(spider)s:delayed"
WORKERS_KEY = "%(spider)s:workers"
HELD_KEY_PREFIX = "%(spider)s:held:"
OUTSTANDING_KEY = "%(spider)s:outstanding"
SEQUENCE_KEY = "%(spider)s:seq"
EPOCH_KEY = "%(spider)s:epoch"
REBUILD_LOCK_KEY = "%(spider)s:rebuild"

# Redis client options used unless REDIS_PARAMS says otherwise. Calls are short and
# made from the reactor thread, so a server that does not answer must fail fast
# (the worker then backs off) rather than freeze the crawl for scrapy-redis' 30 s.
REDIS_PARAMS = {
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    "health_check_interval": 30,
}

# Settings (all overridable in settings.py, the environment or -s NAME=VALUE).
LEASE_SECONDS = 30.0  # SCRAPERQ_LEASE_SECONDS: a dead worker's entries come back after this
MAX_DELIVERIES = 5  # SCRAPERQ_MAX_DELIVERIES: deliveries that ended with the worker gone
PREFETCH = 32  # SCRAPERQ_QUEUE_PREFETCH: entries kept ready for the engine, at most 2 x CONCURRENT_REQUESTS
POLL_SECONDS = 0.5  # SCRAPERQ_QUEUE_POLL_SECONDS: how often an idle worker looks for work
FEED_BATCH = 100  # SCRAPERQ_FEED_BATCH: start payloads turned into requests per round trip
FEED_BACKLOG = 1000  # SCRAPERQ_FEED_BACKLOG: stop taking start payloads while this many are queued
MAX_PAYLOAD_BYTES = 65536  # SCRAPERQ_MAX_PAYLOAD_BYTES: larger start payloads are dead-lettered
SEEN_TTL = 7 * 24 * 3600  # SCRAPERQ_SEEN_TTL: seen-set shards of an abandoned task expire
REBUILD_BATCH = 500  # unfinished tasks read from the database and queued per step of a rebuild
DEAD_MAX = 100_000  # SCRAPERQ_DEAD_MAX: dead letters kept per spider (oldest dropped)
