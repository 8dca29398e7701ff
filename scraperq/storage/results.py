"""The ``results`` table: one row per scraped item, stored at most once per request.

``(task_id, fingerprint)`` is unique, where the fingerprint identifies the
request that produced the item (and the item's position in that response), so a
request delivered twice inserts nothing the second time.

Only-new crawls (``-a only_new=1``) also keep ``stored_pages``: per spider, the
64-bit key of each canonical URL a result was stored for (:func:`url_key`), with
the page's modification date and content hash. A result that carries a
:class:`PageClaim` is inserted only if its claim on its page's key succeeds, in
the same transaction: the key is new, or (``refresh``) the page's modification
date is later or its content hash differs from what was stored. The primary key
makes the claim atomic across workers: of two transactions claiming one page at
once, PostgreSQL makes the second wait for the first and then find the key taken
(SQLite takes writers one at a time), so each page is stored once.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from scraperq.storage.connection import Cursor, Database, JsonText, json_text
from scraperq.storage.partitions import day_of, ensure_days, is_partitioned
from scraperq.storage.tasks import add_item_counts

_INSERT_CHUNK = 200
_PAGE = 1000


@dataclass(frozen=True)
class PageClaim:
    """The page a result stands for, in an only-new crawl."""

    key: int  # url_key of the page's canonical URL
    aliases: tuple[int, ...] = ()  # other URLs it was reached by (the entry's link, before redirects)
    modified: datetime | None = None
    content_hash: int | None = None
    refresh: bool = False  # store again when modified later or the content changed


@dataclass
class ResultRow:
    task_id: int
    spider: str
    url: str
    data: dict[str, Any] | JsonText
    scraped_at: datetime
    fingerprint: str
    job_id: str | None = None
    claim: PageClaim | None = None


# Tracking parameters that make one page look like many (utm_source=rss, fbclid=...).
_TRACKING = re.compile(r"^(?:utm_[a-z]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|igshid)$", re.I)


def url_key(url: str) -> int:
    """A signed 64-bit key of a URL's canonical form (w3lib's, without tracking parameters)."""
    parts = urlsplit(url)
    if parts.query:
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
        url = urlunsplit(parts._replace(query=urlencode(kept)))
    digest = hashlib.blake2b(canonicalize_url(url).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_CLAIM_NEW = (
    "INSERT INTO stored_pages (spider, url_key, modified, content_hash, stored_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (spider, url_key) DO NOTHING RETURNING url_key"
)
_CLAIM_CHANGED = (
    "INSERT INTO stored_pages (spider, url_key, modified, content_hash, stored_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (spider, url_key) DO UPDATE SET modified = excluded.modified,"
    " content_hash = excluded.content_hash, stored_at = excluded.stored_at"
    " WHERE COALESCE(stored_pages.content_hash, 0) <> COALESCE(excluded.content_hash, 0)"
    " OR (excluded.modified IS NOT NULL"
    " AND (stored_pages.modified IS NULL OR excluded.modified > stored_pages.modified))"
    " RETURNING url_key"
)
_ALIAS = (
    "INSERT INTO stored_pages (spider, url_key, modified, content_hash, stored_at) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (spider, url_key) DO UPDATE SET modified = excluded.modified,"
    " content_hash = excluded.content_hash, stored_at = excluded.stored_at"
)


def _claimed(cur: Cursor, rows: Sequence[ResultRow]) -> list[ResultRow]:
    """The rows to insert: those without a claim, and those whose claim succeeded (in row order)."""
    kept = []
    for row in rows:
        claim = row.claim
        if claim is None:
            kept.append(row)
            continue
        values = (row.spider, claim.key, claim.modified, claim.content_hash, row.scraped_at)
        if cur.execute(_CLAIM_CHANGED if claim.refresh else _CLAIM_NEW, values).fetchone() is None:
            continue  # stored before (and unchanged), or by another worker just now
        for alias in claim.aliases:
            cur.execute(_ALIAS, (row.spider, alias, claim.modified, claim.content_hash, row.scraped_at))
        kept.append(row)
    return kept


def stored_pages(db: Database, spider: str, keys: Sequence[int]) -> dict[int, datetime | None]:
    """Which of these URL keys the spider has stored a page for, with the page's modification date."""
    found: dict[int, datetime | None] = {}
    with db.transaction() as cur:
        for start in range(0, len(keys), _INSERT_CHUNK):
            chunk = list(keys[start : start + _INSERT_CHUNK])
            marks = ", ".join(["%s"] * len(chunk))
            rows = cur.execute(
                f"SELECT url_key, modified FROM stored_pages WHERE spider = %s AND url_key IN ({marks})",
                [spider, *chunk],
            ).fetchall()
            found.update((int(r["url_key"]), r["modified"]) for r in rows)
    return found


def insert_results(cur: Cursor, rows: Sequence[ResultRow]) -> int:
    """Insert rows, skipping ones already stored; bump each task's item_count.

    Rows with a :class:`PageClaim` are inserted only if the claim succeeds. Returns
    how many rows were new.
    """
    if any(row.claim is not None for row in rows):
        rows = _claimed(cur, rows)
    inserted: Counter[int] = Counter()
    if cur.db.dialect == "postgresql":
        inserted.update(_insert_postgresql(cur, rows))
    else:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            params = [value for r in chunk for value in _values(r)]
            new = cur.execute(
                f"INSERT INTO results ({_COLUMNS}) VALUES {values}"
                " ON CONFLICT (task_id, fingerprint) DO NOTHING RETURNING task_id",
                params,
            ).fetchall()
            inserted.update(int(r["task_id"]) for r in new)
    add_item_counts(cur, sorted(inserted.items()))
    return sum(inserted.values())


def _values(r: ResultRow) -> tuple[Any, ...]:
    return (r.task_id, r.spider, r.url, json_text(r.data), r.scraped_at, r.fingerprint, r.job_id)


_COLUMNS = "task_id, spider, url, data, scraped_at, fingerprint, job_id"

# One array per column: the statement text is the same for any batch size, so psycopg
# parses it once (a VALUES list of hundreds of placeholders is parsed anew, in Python,
# on every batch, holding the interpreter lock the crawl needs).
#
# On PostgreSQL results are partitioned by day (scraperq/storage/partitions.py), and a unique
# index there must include scraped_at, which differs between two deliveries of one request. So
# "stored once" is kept by hand: each (task, fingerprint) pair is locked for the transaction, in
# one order so two writers cannot deadlock, and a row is inserted only if no partition has it yet.
# A writer that waited for the lock reads after the other's commit (each statement of a
# READ COMMITTED transaction sees what was committed before it started), so it finds the row.
_LOCK_PAIRS = (
    "SELECT pg_advisory_xact_lock(k.task, k.fp) FROM ("
    " SELECT DISTINCT (t %% 2147483647)::int AS task, hashtext(f) AS fp"
    " FROM unnest(%s::bigint[], %s::text[]) AS u(t, f) ORDER BY 1, 2) AS k"
)
_INSERT_UNNEST = (
    f"INSERT INTO results ({_COLUMNS})"
    " SELECT d.task_id, d.spider, d.url, d.data::jsonb, d.scraped_at, d.fingerprint, d.job_id FROM ("
    " SELECT DISTINCT ON (r.task_id, r.fingerprint) r.*"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[])"
    f" WITH ORDINALITY AS r({_COLUMNS}, n)"
    " ORDER BY r.task_id, r.fingerprint, r.n) AS d"
    " WHERE NOT EXISTS (SELECT 1 FROM results s WHERE s.task_id = d.task_id AND s.fingerprint = d.fingerprint)"
    " ORDER BY d.n"  # ids in the order the rows came
    " ON CONFLICT DO NOTHING RETURNING task_id"
)
_INSERT_UNNEST_PLAIN = (  # the unpartitioned table, before migration 12
    f"INSERT INTO results ({_COLUMNS})"
    " SELECT task_id, spider, url, data::jsonb, scraped_at, fingerprint, job_id"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[])"
    f" AS r({_COLUMNS})"
    " ON CONFLICT (task_id, fingerprint) DO NOTHING RETURNING task_id"
)


def _insert_postgresql(cur: Cursor, rows: Sequence[ResultRow]) -> list[int]:
    if not rows:
        return []
    columns = [list(column) for column in zip(*map(_values, rows), strict=True)]
    if not is_partitioned(cur):
        return [int(r["task_id"]) for r in cur.execute(_INSERT_UNNEST_PLAIN, columns).fetchall()]
    ensure_days(cur, {day_of(r.scraped_at) for r in rows})
    cur.execute(_LOCK_PAIRS, (columns[0], columns[5]))
    return [int(r["task_id"]) for r in cur.execute(_INSERT_UNNEST, columns).fetchall()]


def iter_results(
    db: Database,
    *,
    spider: str | None = None,
    task_id: int | None = None,
    since: datetime | None = None,
    page_size: int = _PAGE,
) -> Iterator[dict[str, Any]]:
    """Every matching result in id order, read a page at a time (keyset paging)."""
    last_id = 0
    while True:
        where, params = _filters(spider=spider, task_id=task_id, since=since)
        where.append("id > %s")
        params += [last_id, page_size]
        with db.transaction() as cur:
            rows = cur.execute(
                "SELECT id, task_id, spider, url, data, scraped_at, job_id FROM results"
                f" WHERE {' AND '.join(where)} ORDER BY id LIMIT %s",
                params,
            ).fetchall()
        for row in rows:
            row["data"] = db.json_value(row["data"])
            yield row
        if len(rows) < page_size:
            return
        last_id = int(rows[-1]["id"])


def latest_results(
    db: Database,
    *,
    spider: str | None = None,
    task_id: int | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """One page of matching results, newest first; ``before_id`` pages backwards (the console's table)."""
    where, params = _filters(spider=spider, task_id=task_id, since=since)
    if before_id is not None:
        where.append("id < %s")
        params.append(before_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT id, task_id, spider, url, data, scraped_at, job_id FROM results"
            f" {clause} ORDER BY id DESC LIMIT %s",
            params,
        ).fetchall()
    for row in rows:
        row["data"] = db.json_value(row["data"])
    return rows


def _filters(*, spider: str | None, task_id: int | None, since: datetime | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if spider is not None:
        where.append("spider = %s")
        params.append(spider)
    if task_id is not None:
        where.append("task_id = %s")
        params.append(task_id)
    if since is not None:
        where.append("scraped_at >= %s")
        params.append(since)
    return where, params


def item_fields(
    db: Database, *, spider: str | None = None, task_id: int | None = None, since: datetime | None = None
) -> tuple[list[str], list[str]]:
    """(the spiders, the top-level item fields) of the matching results, each in order of first appearance.

    Fields that first appear in the same result are in name order: PostgreSQL's jsonb
    keeps no key order, and both databases give the same columns.

    One aggregate query in the database, so an export can name its columns before
    streaming its rows without holding them.
    """
    where, params = _filters(spider=spider, task_id=task_id, since=since)
    clause = " AND ".join(["1 = 1", *where])
    if db.dialect == "postgresql":
        fields_sql = (
            "SELECT k.key AS name FROM results CROSS JOIN LATERAL jsonb_object_keys(data) AS k(key)"
            f" WHERE jsonb_typeof(data) = 'object' AND {clause} GROUP BY k.key ORDER BY MIN(id), k.key"
        )
    else:
        fields_sql = (
            "SELECT j.key AS name FROM results, json_each(results.data) AS j"
            f" WHERE json_type(results.data) = 'object' AND {clause} GROUP BY j.key ORDER BY MIN(results.id), j.key"
        )
    with db.transaction() as cur:
        spiders = cur.execute(
            f"SELECT spider FROM results WHERE {clause} GROUP BY spider ORDER BY MIN(id)", params
        ).fetchall()
        fields = cur.execute(fields_sql, params).fetchall()
    return [str(r["spider"]) for r in spiders], [str(r["name"]) for r in fields]


def count_results(
    db: Database, *, spider: str | None = None, task_id: int | None = None, since: datetime | None = None
) -> int:
    where, params = _filters(spider=spider, task_id=task_id, since=since)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with db.transaction() as cur:
        row = cur.execute(f"SELECT COUNT(*) AS n FROM results {clause}", params).fetchone()
    return int(row["n"]) if row else 0
