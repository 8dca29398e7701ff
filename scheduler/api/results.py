"""``GET /api/results``: every matching result, streamed as JSON Lines or CSV.

Filters as ``scraperq results``: ``spider``, ``task`` (a task id) and ``since``
(ISO 8601, UTC unless it says otherwise, or a duration ago such as ``24h``).
Rows are read a page at a time (keyset paging in ``iter_results``) and written
as they come, with chunked transfer encoding, so an export of millions of rows
holds neither them nor a database connection for long. The rows look exactly
as ``scraperq results`` prints them (``scraperq.storage.export``).

The first page is read before the answer starts, so a database that cannot be
reached is a 503, not a 200 cut short. A failure later can only cut the stream:
the client sees a chunked body that never ends properly.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.models import ResultQuery
from scraperq.itemfields import declared_fields_of_spiders
from scraperq.storage.export import ResultCsvWriter, csv_columns, result_record, to_json_line
from scraperq.storage.results import item_fields, iter_results

logger = logging.getLogger(__name__)

FORMATS = ("jsonl", "csv")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
# Rows per chunk written to the socket: big enough to keep syscalls few, small enough to start at once.
_ROWS_PER_CHUNK = 200


def export(ctx: ApiContext, request: Request, query: ResultQuery) -> Response:
    fmt = query.format
    filters = {"spider": query.spider, "task_id": query.task, "since": query.since}
    rows = iter_results(ctx.db, **filters)
    first = list(itertools.islice(rows, 1))  # raises StorageUnavailable now, while a 503 can still be sent
    if fmt == "csv":
        spiders, fields = item_fields(ctx.db, **filters)
        declared = declared_fields_of_spiders(spiders, ctx.settings.get("SCRAPERQ_SOURCES_DIR"))
        columns = csv_columns(fields, declared)
        body = _csv(itertools.chain(first, rows), columns)
    else:
        body = _jsonl(itertools.chain(first, rows))
    return Response(
        _logged(body),
        mimetype=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'inline; filename="results.{fmt}"', "Cache-Control": "no-store"},
        direct_passthrough=True,
    )


def _jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for batch in _batches(rows):
        yield "".join(to_json_line(result_record(row)) for row in batch).encode("utf-8")


def _csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = ResultCsvWriter(buffer, columns)  # writes the header row
    yield _drain(buffer)
    for batch in _batches(rows):
        for row in batch:
            writer.write(row)
        yield _drain(buffer)


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, _ROWS_PER_CHUNK)):
        yield batch


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def _logged(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    except Exception:
        # Headers are gone already: all that can be done is end the stream early and say why here.
        logger.exception("Results export stopped part way")
        raise
