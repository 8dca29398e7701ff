"""The OpenAPI 3 description of the API, served at ``/openapi.json``.

Written as data next to the routes it describes, and checked against the
server by the tests: every route in ``scheduler.api.app.ROUTES`` is here and
nothing else is, the document is valid OpenAPI 3.1, and every answer the tests
receive (successes and errors alike) matches its schema.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from scheduler.api.http import MAX_ID
from scheduler.api.results import MEDIA_TYPES
from scheduler.api.tasks import MAX_LIMIT, MAX_URLS
from scraperq.payloads import MAX_PRIORITY
from scraperq.storage.jobs import ORIGINS as RUN_ORIGINS
from scraperq.storage.jobs import STATUSES as RUN_STATUSES
from scraperq.storage.tasks import STATUSES as TASK_STATUSES

VERSION = "0.1.0"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return dict(schema, type=[schema["type"], "null"])


_INT = {"type": "integer"}
_ID = {"type": "integer", "format": "int64", "minimum": 1}
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

_CRON = dict(
    _TEXT,
    description="Five fields as cron reads them (minute hour day-of-month month day-of-week): weekdays 0-7 with"
    " 0 and 7 Sunday, names (MON-FRI, JAN), ranges, lists and steps; a day matching either day field when both"
    " are restricted; or @yearly @annually @monthly @weekly @daily @midnight @hourly. DST: a schedule pinned to"
    " hours keeps wall-clock time, a local time skipped when clocks go forward runs once right after the change,"
    " and in a repeated hour it runs once; with * hours it runs by real time.",
    examples=["30 6 * * 1-5"],
)
_TIMEZONE = dict(_TEXT, description="IANA name for the cron expression, e.g. Europe/Berlin; default UTC.")
_ARGS = (
    "Spider arguments (Scrapyd's -a), checked as `scrapy crawl` checks them: an argument the spider does not"
    " declare, or a value it would refuse, is a 422 naming `args.<name>`."
)
_SETTINGS = "Scrapy settings for each run; a value that is not of the setting's type is a 422 naming `settings.<NAME>`."

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string", "description": "One line saying what is wrong."},
            "status": {"type": "integer", "description": "The HTTP status code, repeated."},
            "details": {
                "type": "array",
                "description": "Each refused value, when there were several (e.g. one per invalid URL).",
                "items": {
                    "type": "object",
                    "required": ["field", "error"],
                    "properties": {"field": _TEXT, "error": _TEXT},
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "unreachable"]},
            "leader": {"type": "boolean", "description": "Whether this daemon fires the schedules."},
        },
    },
    "Task": {
        "type": "object",
        "required": [
            "id",
            "spider",
            "url",
            "status",
            "attempts",
            "error",
            "priority",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "item_count",
        ],  # fmt: skip
        "properties": {
            "id": _ID,
            "spider": _TEXT,
            "url": _TEXT,
            "status": {"type": "string", "enum": list(TASK_STATUSES)},
            "attempts": _INT,
            "error": _nullable(dict(_TEXT, description="Why it failed, in words a person understands.")),
            "priority": _INT,
            "created_at": _TIME,
            "updated_at": _TIME,
            "started_at": _nullable(_TIME),
            "finished_at": _nullable(_TIME),
            "item_count": _INT,
            "invalid_items": _INT,
            "invalid_reason": _nullable(_TEXT),
            "source": {"type": "string", "description": "Where it came from: cli, api, redis, a spider's start URL..."},
            "meta": {"type": "object"},
            "job_id": _nullable(dict(_TEXT, description="The Scrapyd job that created it, if any.")),
        },
    },
    "TaskList": {
        "type": "object",
        "required": ["tasks", "next_before"],
        "properties": {
            "tasks": {"type": "array", "items": _ref("Task")},
            "next_before": _nullable(
                dict(_ID, description="Pass as `before` for the next (older) page; null on the last page.")
            ),
        },
    },
    "TaskSubmission": {
        "type": "object",
        "required": ["urls"],
        "additionalProperties": False,
        "properties": {
            "urls": {"type": "array", "minItems": 1, "maxItems": MAX_URLS, "items": _TEXT},
            "spider": dict(_TEXT, default="generic"),
            "priority": {"type": "integer", "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY, "default": 0},
        },
    },
    "TasksCreated": {
        "type": "object",
        "required": ["spider", "task_ids"],
        "properties": {
            "spider": _TEXT,
            "task_ids": {"type": "array", "items": _ID, "description": "In the order of the URLs."},
        },
    },
    "JobRun": {
        "type": "object",
        "required": [
            "id",
            "schedule_id",
            "spider",
            "node",
            "scrapyd_job_id",
            "status",
            "fire_time",
            "dispatched_at",
            "finished_at",
            "error",
            "origin",
        ],  # fmt: skip
        "properties": {
            "id": _ID,
            "schedule_id": _nullable(_ID),
            "schedule": _nullable(dict(_TEXT, description="The schedule's name (in /api/jobs).")),
            "spider": _TEXT,
            "node": _nullable(dict(_TEXT, description="The Scrapyd node's URL, without credentials.")),
            "scrapyd_job_id": _nullable(_TEXT),
            "status": {"type": "string", "enum": list(RUN_STATUSES)},
            "fire_time": _nullable(_TIME),
            "dispatched_at": _nullable(_TIME),
            "finished_at": _nullable(_TIME),
            "error": _nullable(dict(_TEXT, description="Why it failed, was skipped or missed, in words.")),
            "origin": {
                "type": "string",
                "enum": list(RUN_ORIGINS),
                "description": "schedule: a fire time; manual: run by hand; scrapyd: started on a node directly.",
            },
            "created_at": _nullable(_TIME),
            "started_at": _nullable(_TIME),
            "item_count": _INT,
            "task_count": _INT,
            "tasks_failed": _INT,
            "pages": dict(_INT, description="Responses the crawl received."),
            "heartbeat_at": _nullable(dict(_TIME, description="When the crawl last said it was alive.")),
            "host": _nullable(dict(_TEXT, description="The machine the crawl runs on.")),
            "pid": _nullable(dict(_INT, description="The crawl's process id there.")),
            "finish_reason": _nullable(dict(_TEXT, description="Scrapy's close reason, as the crawl reported it.")),
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "next_before"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("JobRun")},
            "next_before": _nullable(
                dict(_ID, description="Pass as `before` for the next (older) page; null on the last page.")
            ),
        },
    },
    "JobCancelled": {
        "type": "object",
        "required": ["run", "node", "prevstate"],
        "properties": {
            "run": dict(_ref("JobRun"), description="The run as recorded now: `cancelled`."),
            "node": _nullable(dict(_TEXT, description="The node asked to cancel it; null if never dispatched.")),
            "prevstate": _nullable(
                dict(_TEXT, description="What Scrapyd said the job was (pending, running); null if not listed.")
            ),
        },
    },
    "JobLog": {
        "type": "object",
        "required": ["run_id", "node", "path", "size", "truncated", "text", "stats"],
        "properties": {
            "run_id": _ID,
            "node": dict(_TEXT, description="The node the log was read from, without credentials."),
            "path": dict(_TEXT, description="logs/<project>/<spider>/<job>.log on that node."),
            "size": dict(_INT, description="The whole log's size in bytes."),
            "truncated": {"type": "boolean", "description": "Only the end of the log is in `text`."},
            "text": dict(_TEXT, description="The end of the log, from the start of a line."),
            "stats": _nullable(
                {
                    "type": "object",
                    "additionalProperties": _INT,
                    "description": "Whole-number values of Scrapy's closing stats dump, if the tail has it.",
                }
            ),
        },
    },
    "QueueList": {
        "type": "object",
        "required": ["redis", "queues"],
        "properties": {
            "redis": {"type": "string", "enum": ["ok", "not set"]},
            "queues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["spider", "start_urls", "requests", "delayed", "held", "workers", "dead"],
                    "properties": {
                        "spider": _TEXT,
                        "start_urls": dict(_INT, description="Payloads waiting in <spider>:start_urls."),
                        "requests": dict(_INT, description="Requests in the shared queue."),
                        "delayed": dict(_INT, description="Retries waiting for their backoff to end."),
                        "held": dict(_INT, description="Entries held under lease by workers."),
                        "workers": dict(_INT, description="Workers with a live lease."),
                        "dead": dict(_INT, description="Dead letters in <spider>:dead."),
                    },
                },
            },
        },
    },
    "DeadLetters": {
        "type": "object",
        "required": ["counts", "letters"],
        "properties": {
            "counts": {"type": "object", "additionalProperties": _INT, "description": "Dead letters per spider."},
            "letters": {
                "type": "array",
                "description": "The newest letters, newest first.",
                "items": {
                    "type": "object",
                    "required": ["payload", "reason", "spider"],
                    "properties": {"payload": _TEXT, "reason": _TEXT, "spider": _TEXT, "at": _TEXT, "worker": _TEXT},
                },
            },
        },
    },
    "DeadAction": {
        "type": "object",
        "required": ["action", "spider"],
        "additionalProperties": False,
        "properties": {
            "action": {
                "type": "string",
                "enum": ["requeue", "purge"],
                "description": "requeue: each payload back onto <spider>:start_urls; purge: delete them.",
            },
            "spider": _TEXT,
        },
    },
    "DeadActionDone": {
        "type": "object",
        "required": ["action", "spider", "count"],
        "properties": {
            "action": _TEXT,
            "spider": _TEXT,
            "count": dict(_INT, description="Letters requeued or deleted."),
        },
    },
    "Schedule": {
        "type": "object",
        "required": [
            "id",
            "name",
            "spider",
            "args",
            "settings",
            "cron",
            "interval_seconds",
            "timezone",
            "enabled",
            "state",
            "created_at",
            "updated_at",
            "next_fire_time",
        ],  # fmt: skip
        "properties": {
            "id": _ID,
            "name": _TEXT,
            "spider": _TEXT,
            "args": _STRING_MAP,
            "settings": _STRING_MAP,
            "cron": _nullable(_TEXT),
            "interval_seconds": _nullable(dict(_INT, minimum=1)),
            "timezone": _TEXT,
            "enabled": {"type": "boolean"},
            "state": {"type": "string", "enum": ["active", "paused"]},
            "created_at": _TIME,
            "updated_at": _TIME,
            "next_fire_time": _nullable(_TIME),
            "last_run": _nullable(_ref("JobRun")),
            "runs": {"type": "array", "items": _ref("JobRun"), "description": "Recent runs, newest first."},
        },
    },
    "ScheduleList": {
        "type": "object",
        "required": ["schedules"],
        "properties": {"schedules": {"type": "array", "items": _ref("Schedule")}},
    },
    "NewSchedule": {
        "type": "object",
        "description": "Exactly one of `cron` (with an optional `timezone`) and `interval_seconds`.",
        "required": ["name", "spider"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
            "spider": _TEXT,
            "cron": _CRON,
            "timezone": _TIMEZONE,
            "interval_seconds": dict(_INT, minimum=1),
            "args": dict(_STRING_MAP, description=_ARGS),
            "settings": dict(_STRING_MAP, description=_SETTINGS),
            "enabled": {"type": "boolean", "default": True},
        },
    },
    "ScheduleChange": {
        "type": "object",
        "description": "Any field of a new schedule but its name; what is left out stays as it is. `cron` turns"
        " an interval schedule into a cron one, `interval_seconds` the reverse. The schedule keeps its id and its"
        " run history; its next run is computed again from now when its timing changes or it is resumed.",
        "additionalProperties": False,
        "properties": {
            "spider": _TEXT,
            "cron": _CRON,
            "timezone": _TIMEZONE,
            "interval_seconds": dict(_INT, minimum=1),
            "args": {
                "type": "object",
                "additionalProperties": {"type": ["string", "null"]},
                "description": "Merged into the spider arguments; null removes one. " + _ARGS,
            },
            "settings": {
                "type": "object",
                "additionalProperties": {"type": ["string", "null"]},
                "description": "Merged into the settings; null removes one. " + _SETTINGS,
            },
            "enabled": {
                "type": "boolean",
                "description": "false pauses; true resumes from now on (fire times while paused are not owed).",
            },
        },
    },
    "RunStarted": {
        "type": "object",
        "required": ["schedule", "run"],
        "properties": {
            "schedule": _TEXT,
            "run": dict(
                _ref("JobRun"),
                description="The run, `requested`: the leading daemon dispatches it within two seconds.",
            ),
        },
    },
    "Node": {
        "type": "object",
        "required": ["name", "up", "running", "pending", "capacity", "load", "error"],
        "properties": {
            "name": dict(_TEXT, description="The node's URL, without credentials."),
            "up": {"type": "boolean", "description": "It answers and has the project: jobs can go there."},
            "state": {
                "type": "string",
                "enum": ["up", "down", "no project"],
                "description": "no project: it answers, but the project is not deployed there.",
            },
            "running": _INT,
            "pending": _INT,
            "capacity": _INT,
            "load": {"type": "number", "description": "(running + pending) / capacity."},
            "error": _nullable(_TEXT),
        },
    },
    "NodeList": {
        "type": "object",
        "required": ["nodes"],
        "properties": {"nodes": {"type": "array", "items": _ref("Node")}},
    },
}

_ERROR_MEANINGS = {
    "400": "Malformed request: not JSON, a missing or mistyped field, a bad query parameter.",
    "401": "Missing or wrong API token.",
    "404": "No such task, schedule or route.",
    "409": "Conflict with what is stored.",
    "413": "Request body larger than SCRAPERQ_API_MAX_BODY (or too many URLs).",
    "415": "The body is not sent as application/json.",
    "422": "A value is refused: an invalid URL, an unknown spider, a cron expression that never fires...",
    "503": "The database (or Redis, or every Scrapyd node) cannot be reached.",
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str, **meanings: str) -> dict[str, Schema]:
    """Error answers: 401 and 503 always, plus ``codes``; ``meanings`` (``e409=...``) overrides the text."""
    out = {}
    for code in ("401", *codes, "503"):
        out[code] = _json(_ref("Error"), meanings.get(f"e{code}", _ERROR_MEANINGS[code]))
    return dict(sorted(out.items()))


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _body(schema_name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema_name)}}}


_NAME = _path("name", {"type": "string"})
_RUN_ID = _path("run_id", dict(_ID, maximum=MAX_ID))
_CONSOLE_PARTS = ["summary", "charts", "queues", "nodes", "schedules", "jobs", "job", "tasks", "results"]

PATHS: dict[str, dict[str, Schema]] = {
    "/": {
        "get": {
            "summary": "The console (HTML)",
            "description": "The operations console: tasks, results, schedules, jobs, queues, nodes and charts,"
            " with actions sent to this API by its script. With a token, basic auth with the token as password"
            " works too, so a browser can open it. `part` answers one panel's HTML alone (the script refreshes"
            " them so); the `<panel>_<filter>` parameters filter and page the panels.",
            "security": [{"bearer": []}, {"basic": []}],
            "parameters": [
                _query("part", {"type": "string", "enum": _CONSOLE_PARTS}, "One panel only."),
                _query("range", {"type": "string", "enum": ["1h", "6h", "24h", "7d"]}, "The charts' window."),
                _query("job", dict(_ID, maximum=MAX_ID), "The job run shown in detail, with its log."),
                _query("jobs_status", {"type": "string", "enum": list(RUN_STATUSES)}, "Jobs in this status."),
                _query("jobs_spider", _TEXT, "Jobs of this spider."),
                _query("jobs_before", dict(_ID, maximum=MAX_ID), "Jobs page: ids below this."),
                _query("tasks_status", {"type": "string", "enum": list(TASK_STATUSES)}, "Tasks in this status."),
                _query("tasks_spider", _TEXT, "Tasks of this spider."),
                _query("tasks_before", dict(_ID, maximum=MAX_ID), "Tasks page: ids below this."),
                _query("results_spider", _TEXT, "Results of this spider."),
                _query("results_task", dict(_ID, maximum=MAX_ID), "Results of this task."),
                _query("results_since", _TEXT, "Results scraped since (ISO 8601 or a duration ago: 24h)."),
                _query("results_before", dict(_ID, maximum=MAX_ID), "Results page: ids below this."),
            ],
            "responses": {
                "200": {"description": "The page, or one panel.", "content": {"text/html": {"schema": _TEXT}}},
                **_errors("400", "404"),
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Liveness and database check (no token needed)",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "The daemon and its database are up."),
                "503": _json(_ref("Health"), "The database cannot be reached."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (text exposition format 0.0.4)",
            "responses": {
                "200": {
                    "description": "Gauges of tasks, results, schedules, job runs and nodes; API counters.",
                    "content": {"text/plain": {"schema": _TEXT}},
                },
                "401": _json(_ref("Error"), _ERROR_MEANINGS["401"]),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {
                "200": _json({"type": "object"}, "The OpenAPI description."),
                "401": _json(_ref("Error"), _ERROR_MEANINGS["401"]),
            },
        }
    },
    "/api/tasks": {
        "get": {
            "summary": "List tasks, newest first",
            "parameters": [
                _query("status", {"type": "string", "enum": list(TASK_STATUSES)}, "Only tasks in this status."),
                _query("spider", _TEXT, "Only tasks of this spider."),
                _query("limit", dict(_INT, minimum=1, maximum=MAX_LIMIT, default=50), "Page size."),
                _query("before", dict(_ID, maximum=MAX_ID), "Only tasks with a smaller id (the next page)."),
            ],
            "responses": {"200": _json(_ref("TaskList"), "A page of tasks."), **_errors("400")},
        },
        "post": {
            "summary": "Submit URLs as tasks",
            "description": "Each URL becomes a pending task and is queued for the spider's workers on Redis"
            " (`<spider>:start_urls`), exactly as `scraperq enqueue` does.",
            "requestBody": _body("TaskSubmission"),
            "responses": {
                "201": _json(_ref("TasksCreated"), "The new tasks' ids, in the order of the URLs."),
                **_errors("400", "413", "415", "422"),
            },
        },
    },
    "/api/tasks/{task_id}": {
        "get": {
            "summary": "One task",
            "parameters": [_path("task_id", dict(_ID, maximum=MAX_ID))],
            "responses": {"200": _json(_ref("Task"), "The task."), **_errors("404")},
        }
    },
    "/api/results": {
        "get": {
            "summary": "Export results (streamed)",
            "description": "Every matching result in id order, streamed with chunked encoding. JSON Lines: one"
            " object per line with id, task_id, spider, url, scraped_at and data. CSV: those columns, with data"
            " as one JSON cell.",
            "parameters": [
                _query("format", {"type": "string", "enum": list(MEDIA_TYPES), "default": "jsonl"}, "Output."),
                _query("spider", _TEXT, "Only results of this spider."),
                _query("task", dict(_ID, maximum=MAX_ID), "Only results of this task."),
                _query("since", _TEXT, "Scraped at or after: ISO 8601 (UTC unless given) or a duration ago (24h)."),
            ],
            "responses": {
                "200": {
                    "description": "The results.",
                    "content": {media: {"schema": _TEXT} for media in MEDIA_TYPES.values()},
                },
                **_errors("400"),
            },
        }
    },
    "/api/schedules": {
        "get": {
            "summary": "List schedules with their last run",
            "responses": {"200": _json(_ref("ScheduleList"), "Every schedule, by name."), **_errors()},
        },
        "post": {
            "summary": "Add a schedule",
            "requestBody": _body("NewSchedule"),
            "responses": {
                "201": _json(_ref("Schedule"), "The schedule, with its first fire time."),
                **_errors("400", "409", "413", "415", "422", e409="A schedule by that name exists."),
            },
        },
    },
    "/api/schedules/{name}": {
        "get": {
            "summary": "One schedule and its recent runs",
            "parameters": [_NAME, _query("runs", dict(_INT, minimum=0, maximum=1000, default=10), "Runs shown.")],
            "responses": {"200": _json(_ref("Schedule"), "The schedule."), **_errors("400", "404")},
        },
        "patch": {
            "summary": "Change a schedule (timing, spider, arguments, settings, paused or not)",
            "parameters": [_NAME],
            "requestBody": _body("ScheduleChange"),
            "responses": {
                "200": _json(_ref("Schedule"), "The schedule as it is now."),
                **_errors("400", "404", "413", "415", "422"),
            },
        },
        "delete": {
            "summary": "Remove a schedule (its run history stays)",
            "parameters": [_NAME],
            "responses": {"204": {"description": "Removed."}, **_errors("404")},
        },
    },
    "/api/schedules/{name}/run": {
        "post": {
            "summary": "Run a schedule now",
            "description": "Records a run request; the leading scheduler daemon dispatches it to the least-loaded"
            " Scrapyd node within two seconds, and it is followed like any run (see /api/jobs).",
            "parameters": [_NAME],
            "responses": {
                "202": _json(_ref("RunStarted"), "Requested."),
                **_errors(
                    "404",
                    "409",
                    e409="The schedule's previous run is still going.",
                    e503="No scheduler daemon leads (or the database is down); nothing was recorded.",
                ),
            },
        }
    },
    "/api/jobs": {
        "get": {
            "summary": "Job runs, newest first",
            "parameters": [
                _query("schedule", _TEXT, "Only runs of this schedule."),
                _query("status", {"type": "string", "enum": list(RUN_STATUSES)}, "Only runs in this status."),
                _query("spider", _TEXT, "Only runs of this spider."),
                _query("limit", dict(_INT, minimum=1, maximum=MAX_LIMIT, default=50), "How many."),
                _query("before", dict(_ID, maximum=MAX_ID), "Only runs with a smaller id (the next page)."),
            ],
            "responses": {"200": _json(_ref("JobList"), "Job runs."), **_errors("400", "404")},
        }
    },
    "/api/jobs/{run_id}/cancel": {
        "post": {
            "summary": "Cancel a job run",
            "description": "A requested run is cancelled before dispatch; a pending or running one through"
            " Scrapyd's cancel.json on its node. The run is recorded `cancelled`; a crawl that stops then writes"
            " its own end (still `cancelled`, with finish reason `shutdown` and its final counts).",
            "parameters": [_RUN_ID],
            "responses": {
                "200": _json(_ref("JobCancelled"), "Cancelled."),
                **_errors(
                    "404",
                    "409",
                    e409="The run is over already, or is being dispatched at this moment.",
                    e503="Its Scrapyd node (or the database) cannot be reached; nothing was recorded.",
                ),
            },
        }
    },
    "/api/jobs/{run_id}/log": {
        "get": {
            "summary": "The end of a job run's Scrapy log, from its Scrapyd node",
            "parameters": [
                _RUN_ID,
                _query("bytes", dict(_INT, minimum=1024, maximum=1024 * 1024, default=65536), "How much."),
            ],
            "responses": {
                "200": _json(_ref("JobLog"), "The log's tail."),
                **_errors(
                    "400",
                    "404",
                    e404="No such run, or it has no Scrapyd job or log (logs_dir off, or removed).",
                    e503="The node (or the database) cannot be reached.",
                ),
            },
        }
    },
    "/api/queues": {
        "get": {
            "summary": "Each spider's shared Redis queue: start URLs, queued, delayed, held, workers, dead",
            "parameters": [_query("spider", _TEXT, "Only this spider.")],
            "responses": {
                "200": _json(_ref("QueueList"), "Per spider; empty with redis `not set` without REDIS_URL."),
                **_errors(e503="Redis (or the database) cannot be reached."),
            },
        }
    },
    "/api/dead": {
        "get": {
            "summary": "Dead letters: how many per spider, and the newest",
            "parameters": [
                _query("spider", _TEXT, "Only this spider."),
                _query("limit", dict(_INT, minimum=0, maximum=1000, default=20), "Letters shown."),
            ],
            "responses": {
                "200": _json(_ref("DeadLetters"), "Counts and letters."),
                **_errors("400", e503="REDIS_URL is not set, or Redis cannot be reached."),
            },
        },
        "post": {
            "summary": "Requeue or purge a spider's dead letters",
            "requestBody": _body("DeadAction"),
            "responses": {
                "200": _json(_ref("DeadActionDone"), "Done."),
                **_errors("400", "413", "415", e503="REDIS_URL is not set, or Redis cannot be reached."),
            },
        },
    },
    "/static/{filename}": {
        "get": {
            "summary": "The console's stylesheet and script (no token needed)",
            "security": [],
            "parameters": [_path("filename", {"type": "string", "enum": ["console.css", "console.js"]})],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {"text/css": {"schema": _TEXT}, "text/javascript": {"schema": _TEXT}},
                },
                "304": {"description": "Not changed since the ETag sent."},
                "404": _json(_ref("Error"), "No such file."),
            },
        }
    },
    "/api/nodes": {
        "get": {
            "summary": "The Scrapyd nodes and their load",
            "responses": {
                "200": _json(_ref("NodeList"), "Each node in SCRAPYD_NODES."),
                "401": _json(_ref("Error"), _ERROR_MEANINGS["401"]),
            },
        }
    },
}


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scraperq scheduler API",
            "version": VERSION,
            "description": "Tasks, results, schedules, jobs and Scrapyd nodes of a scraperq installation."
            " Errors are JSON `{error, status}` with a 4xx or 5xx code. When SCRAPERQ_API_TOKEN is set, every"
            " route but /healthz needs `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "SCRAPERQ_API_TOKEN"},
                "basic": {"type": "http", "scheme": "basic", "description": "Any user, SCRAPERQ_API_TOKEN as password"},
            },
        },
    }


def spec() -> dict[str, Any]:
    """The document (a copy: callers may change it)."""
    return copy.deepcopy(_document())
