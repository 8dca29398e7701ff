"""``scraperq job cancel ID``: stop a job run on its Scrapyd node and record it ``cancelled``.

``ID`` is the job run's id (``scraperq schedule show``, ``/api/jobs``, the
console). It does what ``POST /api/jobs/{id}/cancel`` does (:mod:`scheduler.cancel`):
a requested run is cancelled before it is dispatched, a pending or running one
through Scrapyd's ``cancel.json`` on its node. Needs ``DATABASE_URL`` and
``SCRAPYD_NODES``. An unknown id, a run that is over already, or a node that
cannot be reached is one line on stderr and exit status 2, nothing changed.
"""

from __future__ import annotations

import argparse

from scheduler.app import build_client
from scheduler.cancel import cancel_run
from scheduler.cli import open_db, require_extras, settings
from scheduler.config import SchedulerConfig
from scraperq.display import print_json
from scraperq.errors import BadInput

require_extras()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "job",
        help="act on a job run (cancel it)",
        description="Act on a job run of the scheduler's record.",
    )
    commands = parser.add_subparsers(dest="job_command", metavar="ACTION", parser_class=type(parser))
    commands.required = True
    cancel = commands.add_parser(
        "cancel",
        help="stop a requested, pending or running job run",
        description="Stop a job run: Scrapyd's cancel.json on its node; the run is recorded cancelled.",
    )
    cancel.add_argument("id", metavar="ID", help="the job run's id")
    cancel.add_argument("--json", action="store_true", help="print the run as recorded, as JSON")
    cancel.set_defaults(handler=run_cancel)


def run_cancel(args: argparse.Namespace) -> int:
    if not args.id.isdigit() or not 0 < int(args.id) < 2**63:
        raise BadInput(f"job run id {args.id!r} is not a whole number of 1 or more")
    project = settings()
    config = SchedulerConfig.from_settings(project)
    client, _pool = build_client(config)
    with open_db(project) as db:
        try:
            done = cancel_run(db, client, list(config.nodes), int(args.id))
        finally:
            client.close()
    if args.json:
        print_json(dict(done.run.as_dict(), node_asked=done.node, prevstate=done.prevstate))
        return 0
    where = f" on {done.node} (it was {done.prevstate or 'no longer listed'})" if done.node else " before dispatch"
    print(f"Cancelled job run {done.run.id} ({done.run.spider}, Scrapyd job {done.run.scrapyd_job_id}){where}")
    return 0
