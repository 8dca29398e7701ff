"""``GET /api/jobs/{run_id}/log``: the end of a job's Scrapy log, read from its Scrapyd node.

Scrapyd keeps each job's log at ``logs/<project>/<spider>/<job>.log`` and serves
it as a static file; the tail is read with a Range request (``bytes``, default
64 KiB, at most 1 MiB), cut at the first line break so that it starts with a
whole line. Scrapy's closing stats dump (``'item_scraped_count': 12``...) is in
the last lines of a finished crawl: its whole-number values come back as
``stats``. 404 when the run has no Scrapyd job or its node has no such log (a
node with ``logs_dir`` off, or a log removed by Scrapyd's ``jobs_to_keep``), 503
when the node cannot be reached.
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, json_response, query_int
from scheduler.cancel import node_of
from scheduler.scrapyd import NodeError
from scraperq.errors import StorageUnavailable
from scraperq.storage import jobs

DEFAULT_BYTES = 64 * 1024
MAX_BYTES = 1024 * 1024
_STAT = re.compile(r"^\s*'([a-z_][\w/.-]*)': (\d+),?$", re.M)


def log_path(project: str, spider: str, job_id: str) -> str:
    return f"logs/{project}/{spider}/{job_id}.log"


def stats_of(tail: str) -> dict[str, int] | None:
    """The whole-number values of the last stats dump in the tail, or None when there is none."""
    start = tail.rfind("Dumping Scrapy stats:")
    if start < 0:
        return None
    return {name: int(value) for name, value in _STAT.findall(tail[start:])}


def job_log(ctx: ApiContext, request: Request, run_id: int) -> Response:
    limit = query_int(request, "bytes", default=DEFAULT_BYTES, low=1024, high=MAX_BYTES)
    run = jobs.get_run(ctx.db, run_id)
    if not run.scrapyd_job_id or run.status in ("requested", "skipped", "missed"):
        raise ApiError(404, f"job run {run.id} is {run.status}: it has no Scrapyd job, so no log")
    client, nodes = ctx.pool.client, ctx.pool.nodes
    node = node_of(run, client, nodes, finished=True)
    if node is None:
        raise ApiError(404, f"no Scrapyd node lists job {run.scrapyd_job_id}, so its log cannot be read")
    path = log_path(client.project, run.spider, run.scrapyd_job_id)
    try:
        text, size = client.log_tail_sized(node, path, max_bytes=limit)
    except NodeError as exc:
        if exc.http_status == 404:
            missing = f"{node.name} has no log for job {run.scrapyd_job_id} (logs_dir off, or removed)"
            raise ApiError(404, missing) from None
        raise StorageUnavailable(f"cannot read the log of job {run.scrapyd_job_id}: {exc}") from None
    truncated = size > limit  # then only the last `limit` bytes were asked for
    if truncated and "\n" in text:
        text = text.split("\n", 1)[1]  # the range started mid-line
    return json_response(
        {
            "run_id": run.id,
            "node": node.name,
            "path": path,
            "size": size,
            "truncated": truncated,
            "text": text,
            "stats": stats_of(text),
        }
    )
