"""Cancel a job run: stop its crawl on its Scrapyd node, and record the run ``cancelled``.

Used by ``POST /api/jobs/{id}/cancel`` and ``scraperq job cancel ID`` (and so by
the console), the same way each time:

* ``requested`` (not dispatched yet): recorded ``cancelled`` at once, in one
  conditional update, so the daemon that would have taken it finds nothing to take;
* ``dispatching``: refused (Conflict): a ``schedule.json`` is in flight and its
  outcome is not known yet; asking again a moment later finds it ``pending``;
* ``pending`` or ``running``: Scrapyd's ``cancel.json`` on the job's node (a job
  started on a node directly has no node on record: the nodes are asked which
  lists it), then the run is recorded ``cancelled``. A pending job never starts;
  a running crawl gets Scrapyd's signal, closes with reason ``shutdown`` and
  writes its own account of the end (``scraperq/jobreport.py``: ``cancelled``
  with its final counts), which replaces this one. The daemon's tracker reads a
  ``shutdown`` close in the log the same way, for a crawl that cannot reach the
  database. A node that cannot be reached is a StorageUnavailable and nothing is
  recorded: the crawl may still be running there;
* anything final: refused (Conflict), naming its status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scheduler.nodes import ask_all
from scheduler.scrapyd import FINISHED, JobListing, Node, NodeError, ScrapydClient
from scraperq.errors import Conflict, StorageUnavailable
from scraperq.storage import jobs
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.jobs import JobRun

logger = logging.getLogger(__name__)

CANCELLED_ERROR = "cancelled on request (the API, the console or scraperq job cancel)"


@dataclass(frozen=True)
class Cancelled:
    run: JobRun  # as recorded now
    node: str | None  # where cancel.json went (None: the run was never dispatched)
    prevstate: str | None  # what Scrapyd said the job was: pending, running, or None (it had ended)


def cancel_run(db: Database, client: ScrapydClient, nodes: list[Node], run_id: int) -> Cancelled:
    run = jobs.get_run(db, run_id)  # NotFound
    if run.status == "requested":
        if jobs.mark_final(db, run.id, status="cancelled", at=utcnow(), error=CANCELLED_ERROR):
            logger.warning("Job run %d (%s) cancelled before it was dispatched", run.id, run.spider)
            return Cancelled(jobs.get_run(db, run.id), None, None)
        run = jobs.get_run(db, run.id)  # a daemon took it meanwhile: cancel it where it went
    if run.status == "dispatching":
        raise Conflict(f"job run {run.id} is being dispatched to a node right now: ask again in a moment")
    if run.status not in ("pending", "running") or not run.scrapyd_job_id:
        raise Conflict(f"job run {run.id} is {run.status} already: only a requested, pending or running run can stop")
    node = node_of(run, client, nodes)
    try:
        prevstate = client.cancel(node, run.scrapyd_job_id) if node is not None else None
    except NodeError as exc:
        raise StorageUnavailable(f"cannot cancel job {run.scrapyd_job_id}: {exc}") from None
    counts = jobs.job_counts(db, [run.scrapyd_job_id]).get(run.scrapyd_job_id)
    jobs.mark_final(db, run.id, status="cancelled", at=utcnow(), error=CANCELLED_ERROR, counts=counts)
    logger.warning(
        "Job run %d (%s, Scrapyd job %s) cancelled on %s (it was %s)",
        run.id,
        run.spider,
        run.scrapyd_job_id,
        node.name if node else "no node",
        prevstate or "not listed",
    )
    return Cancelled(jobs.get_run(db, run.id), node.name if node else None, prevstate)


def node_of(run: JobRun, client: ScrapydClient, nodes: list[Node], *, finished: bool = False) -> Node | None:
    """The run's node; for a job started on a node directly (none on record), the node that lists it
    (as not finished, unless ``finished``); None when no node does."""
    known = next((n for n in nodes if n.name == run.node), None)
    if known is not None:
        return known
    if run.node:
        raise StorageUnavailable(f"job run {run.id} ran on {run.node}, which is no longer in SCRAPYD_NODES")
    job_id = run.scrapyd_job_id or ""

    def lists(node: Node) -> bool:
        try:
            listing: JobListing = client.list_jobs(node)
        except NodeError:
            return False
        state = listing.state(job_id)
        return state is not None and (finished or state != FINISHED)

    found = [n for n, has in zip(nodes, ask_all(nodes, lists), strict=True) if has]
    return found[0] if found else None
