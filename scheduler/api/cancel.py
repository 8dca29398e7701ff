"""``POST /api/jobs/{run_id}/cancel``: stop a job run on its Scrapyd node and record it ``cancelled``.

What happens for each status is :mod:`scheduler.cancel`'s to say (the CLI's
``scraperq job cancel`` does the same): 200 with the run as recorded now, 404
for an unknown id, 409 for a run that is final already (or being dispatched at
this very moment), 503 when its node cannot be reached (nothing recorded).
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response
from scheduler.api.schedules import run_json
from scheduler.cancel import cancel_run


def cancel(ctx: ApiContext, request: Request, run_id: int) -> Response:
    done = cancel_run(ctx.db, ctx.pool.client, ctx.pool.nodes, run_id)
    return json_response({"run": run_json(done.run), "node": done.node, "prevstate": done.prevstate})
