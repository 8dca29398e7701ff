"""What the API takes and gives, as pydantic models: the one source of its validation and its document.

Request models (bodies and query strings) validate what a client sends before a
route runs; ``/openapi.json`` is generated from the same models
(:mod:`scheduler.api.openapi`), so what the document promises is what the server
checks. Response models only describe; the routes build their answers from the
storage rows, and the tests check every answer against the document.

Bodies are validated strictly (``"5"`` is not a number, ``1`` is not ``true``),
query strings laxly (they are text: ``limit=5`` is the number 5). Refusals are
turned into the API's one-line messages by :func:`refusal`: a value of the wrong
type or shape is a 400, a well-typed value out of its range or pattern a 422.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from scheduler.api.http import MAX_ID, ApiError
from scraperq.errors import BadInput
from scraperq.payloads import MAX_PRIORITY
from scraperq.storage.jobs import ORIGINS as RUN_ORIGINS
from scraperq.storage.jobs import STATUSES as RUN_STATUSES
from scraperq.storage.schedules import MAX_INTERVAL_SECONDS
from scraperq.storage.tasks import STATUSES as TASK_STATUSES
from scraperq.times import parse_when

MAX_LIMIT = 1000
# URLs in one POST; more is a batch job for `scraperq enqueue --file`.
MAX_URLS = 10_000
SCHEDULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


# Patterns in the document and in the validation alike (pydantic checks them; JSON Schema says them).
# A name, an expression, a zone, a query value: one line without control characters (C0, DEL, C1).
NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"
# Any other text: anything but NUL, which PostgreSQL cannot store.
NO_NUL = r"^[^\x00]*$"

Line = Annotated[str, Field(min_length=1, max_length=1000, pattern=NO_CONTROLS)]
Text = Annotated[str, Field(pattern=NO_NUL)]
# Spider argument and setting names are checked by their own rules later; here only what every key needs.
_KEY = {"minLength": 1, "maxLength": 200, "pattern": NO_CONTROLS}
_KEY_PATTERN = re.compile(NO_CONTROLS)


def _keys(value: dict[str, Any] | None) -> dict[str, Any] | None:
    for key in value or {}:
        if not (_KEY["minLength"] <= len(key) <= _KEY["maxLength"] and _KEY_PATTERN.fullmatch(key)):
            raise ValueError(f"the name {key!r} is empty, too long or holds control characters")
    return value


def _string_map(values: Any, description: str) -> Any:
    """A JSON object of text values whose keys follow :data:`_KEY` (said as propertyNames, checked by _keys)."""
    return Annotated[
        dict[str, values] | None,
        AfterValidator(_keys),
        Field(None, description=description, json_schema_extra={"propertyNames": _KEY}),
    ]


def _whole(value: Any) -> Any:
    # JSON Schema's "integer" includes 5.0 (and 1e20): a whole number written as a float is that number.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[int, BeforeValidator(_whole)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0)]


class Request(BaseModel):
    """A request model. ``MESSAGES`` words a refusal of one field (``{input}`` is the value sent)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    MESSAGES: ClassVar[dict[str, str]] = {}
    SHAPE_FIELDS: ClassVar[frozenset[str]] = frozenset()


class Query(BaseModel):
    """A query string's parameters; an unknown parameter is ignored, as HTTP clients expect."""

    model_config = ConfigDict(extra="ignore")


# -- request bodies -------------------------------------------------------------------------------


class TaskSubmission(Request):
    urls: list[Text] = Field(min_length=1, json_schema_extra={"maxItems": MAX_URLS})
    spider: Line = "generic"
    priority: Whole = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)

    MESSAGES: ClassVar[dict[str, str]] = {"urls": "'urls' must be a non-empty array of URLs"}


_CRON = (
    "Five fields as cron reads them (minute hour day-of-month month day-of-week): weekdays 0-7 with"
    " 0 and 7 Sunday, names (MON-FRI, JAN), ranges, lists and steps; a day matching either day field when both"
    " are restricted; or @yearly @annually @monthly @weekly @daily @midnight @hourly. DST: a schedule pinned to"
    " hours keeps wall-clock time, a local time skipped when clocks go forward runs once right after the change,"
    " and in a repeated hour it runs once; with * hours it runs by real time."
)
_TIMEZONE = "IANA name for the cron expression, e.g. Europe/Berlin; default UTC."
_ARGS = (
    "Spider arguments (Scrapyd's -a), checked as `scrapy crawl` checks them: an argument the spider does not"
    " declare, or a value it would refuse, is a 422 naming `args.<name>`."
)
_SETTINGS = "Scrapy settings for each run; a value that is not of the setting's type is a 422 naming `settings.<NAME>`."
_NAME_RULE = "use up to 100 letters, digits, '.', '_' or '-', starting with a letter"
_INTERVAL_RANGE = f"the interval must be at least 1 second and at most {MAX_INTERVAL_SECONDS} seconds, not {{input}}"
_INTERVAL = Field(None, ge=1, le=MAX_INTERVAL_SECONDS, description="Seconds between runs.")


class NewSchedule(Request):
    """Exactly one of `cron` (with an optional `timezone`) and `interval_seconds`."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"properties": {"cron": {"type": "string"}}, "required": ["cron"]},
                {"properties": {"interval_seconds": {"type": "integer"}}, "required": ["interval_seconds"]},
            ]
        }
    )

    name: str = Field(pattern=SCHEDULE_NAME, max_length=100)
    spider: Line
    cron: Line | None = Field(None, description=_CRON, examples=["30 6 * * 1-5"])
    timezone: Line | None = Field(None, description=_TIMEZONE)
    interval_seconds: Whole | None = _INTERVAL
    args: _string_map(Text, _ARGS)  # type: ignore[valid-type]
    settings: _string_map(Text, _SETTINGS)  # type: ignore[valid-type]
    enabled: bool = True

    MESSAGES: ClassVar[dict[str, str]] = {
        "name": f"invalid schedule name {{input!r}}: {_NAME_RULE}",
        "args": "'args' must be an object of string values",
        "settings": "'settings' must be an object of string values",
        "interval_seconds:range": _INTERVAL_RANGE,
    }


class ScheduleChange(Request):
    """Any field of a new schedule but its name; what is left out stays as it is. `cron` turns an interval
    schedule into a cron one, `interval_seconds` the reverse. The schedule keeps its id and its run history;
    its next run is computed again from now when its timing changes or it is resumed."""

    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "properties": {"cron": {"type": "string"}, "interval_seconds": {"type": "integer"}},
                "required": ["cron", "interval_seconds"],
            }
        }
    )

    spider: Line | None = None
    cron: Line | None = Field(None, description=_CRON)
    timezone: Line | None = Field(None, description=_TIMEZONE)
    interval_seconds: Whole | None = _INTERVAL
    args: _string_map(Text | None, "Merged into the spider arguments; null removes one. " + _ARGS)  # type: ignore[valid-type]
    settings: _string_map(Text | None, "Merged into the settings; null removes one. " + _SETTINGS)  # type: ignore[valid-type]
    enabled: bool | None = Field(
        None, description="false pauses; true resumes from now on (fire times while paused are not owed)."
    )

    MESSAGES: ClassVar[dict[str, str]] = {
        "args": "'args' must be an object of string values (null removes an entry)",
        "settings": "'settings' must be an object of string values (null removes an entry)",
        "interval_seconds:range": _INTERVAL_RANGE,
    }


# -- query strings ---------------------------------------------------------------------------------


# What parse_when reads, as a pattern: a duration (90s, 15m, 24h, 7d, 2w) or an ISO 8601 date or time.
WHEN = (
    r"^([0-9]{1,9}[smhdw]|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?)$"
)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_when(text)
    except (BadInput, ValueError) as exc:
        raise ValueError(str(exc)) from None
    except OverflowError:
        raise ValueError(f"{text!r} is further back than any time a result can have") from None


class TaskQuery(Query):
    status: Literal[TASK_STATUSES] | None = Field(None, description="Only tasks in this status.")  # type: ignore[valid-type]
    spider: Line | None = Field(None, description="Only tasks of this spider.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Page size.")
    before: Id | None = Field(None, description="Only tasks with a smaller id (the next page).")


class ResultQuery(Query):
    format: Literal["jsonl", "csv"] = Field("jsonl", description="Output.")
    spider: Line | None = Field(None, description="Only results of this spider.")
    task: Id | None = Field(None, description="Only results of this task.")
    since: Annotated[str | None, AfterValidator(_when)] = Field(
        None, description="Scraped at or after: ISO 8601 (UTC unless given) or a duration ago (24h).", pattern=WHEN
    )


class ScheduleQuery(Query):
    runs: int = Field(10, ge=0, le=1000, description="Runs shown.")


class JobQuery(Query):
    schedule: Line | None = Field(None, description="Only runs of this schedule.")
    status: Literal[RUN_STATUSES] | None = Field(None, description="Only runs in this state.")  # type: ignore[valid-type]
    spider: Line | None = Field(None, description="Only runs of this spider.")
    before: Id | None = Field(None, description="Only runs older than this id (the next page: `next_before`).")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="How many.")


# -- answers ---------------------------------------------------------------------------------------


class Document(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str


class ErrorDetail(BaseModel):
    field: str
    error: str


class Error(BaseModel):
    error: str = Field(description="One line saying what is wrong.")
    status: int = Field(description="The HTTP status code, repeated.")
    details: list[ErrorDetail] | None = Field(
        None, description="Each refused value, when there were several (e.g. one per invalid URL)."
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    leader: bool | None = Field(None, description="Whether this daemon fires the schedules.")


class Task(BaseModel):
    id: Id
    spider: str
    url: str
    status: Literal[TASK_STATUSES]  # type: ignore[valid-type]
    attempts: int
    error: str | None = Field(description="Why it failed, in words a person understands.")
    priority: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    item_count: int
    invalid_items: int = 0
    invalid_reason: str | None = None
    source: str = Field("", description="Where it came from: cli, api, redis, a spider's start URL...")
    meta: dict[str, Any] = {}
    job_id: str | None = Field(None, description="The Scrapyd job that created it, if any.")


class TaskList(BaseModel):
    tasks: list[Task]
    next_before: Id | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")


class TasksCreated(BaseModel):
    spider: str
    task_ids: list[Id] = Field(description="In the order of the URLs.")


class JobRun(BaseModel):
    id: Id
    schedule_id: Id | None
    schedule: str | None = Field(None, description="The schedule's name (in /api/jobs).")
    spider: str
    node: str | None = Field(description="The Scrapyd node's URL, without credentials.")
    scrapyd_job_id: str | None
    status: Literal[RUN_STATUSES]  # type: ignore[valid-type]
    fire_time: datetime | None
    dispatched_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="Why it failed, was skipped or missed, in words.")
    origin: Literal[RUN_ORIGINS] = Field(  # type: ignore[valid-type]
        description="schedule: a fire time; manual: run by hand; scrapyd: started on a node directly;"
        " maintenance: the daily retention run."
    )
    created_at: datetime | None = None
    started_at: datetime | None = None
    item_count: int = 0
    task_count: int = 0
    tasks_failed: int = 0
    pages: int = Field(0, description="Responses the crawl received.")
    heartbeat_at: datetime | None = Field(None, description="When the crawl last said it was alive.")
    host: str | None = Field(None, description="The machine the crawl runs on.")
    pid: int | None = Field(None, description="The crawl's process id there.")
    finish_reason: str | None = Field(None, description="Scrapy's close reason, as the crawl reported it.")


class JobList(BaseModel):
    jobs: list[JobRun]
    next_before: Id | None = Field(None, description="The `before` of the next page; null on the last.")


class Schedule(BaseModel):
    id: Id
    name: str
    spider: str
    args: dict[str, str]
    settings: dict[str, str]
    cron: str | None
    interval_seconds: int | None
    timezone: str
    enabled: bool
    state: Literal["active", "paused"]
    created_at: datetime
    updated_at: datetime
    next_fire_time: datetime | None
    last_run: JobRun | None = None
    runs: list[JobRun] = Field([], description="Recent runs, newest first.")


class ScheduleList(BaseModel):
    schedules: list[Schedule]


class RunStarted(BaseModel):
    schedule: str
    run: JobRun = Field(description="The run, `requested`: the leading daemon dispatches it within two seconds.")


class Node(BaseModel):
    name: str = Field(description="The node's URL, without credentials.")
    up: bool = Field(description="It answers and has the project: jobs can go there.")
    state: Literal["up", "down", "no project"] = Field(
        "up", description="no project: it answers, but the project is not deployed there."
    )
    running: int
    pending: int
    capacity: int
    load: float = Field(description="(running + pending) / capacity.")
    error: str | None


class NodeList(BaseModel):
    nodes: list[Node]


# -- dead letters ----------------------------------------------------------------------------------

DEAD_ID = "^[0-9a-f]{12}$"
DEAD_ACTIONS = ("requeue", "purge")
DEAD_MAX_IDS = 1000
DEAD_MAX_LIMIT = 1000


class DeadQuery(Query):
    spider: Line | None = Field(None, description="Only this spider's; every spider's by name when left out.")
    limit: int = Field(50, ge=1, le=DEAD_MAX_LIMIT, description="Page size.")
    offset: int = Field(0, ge=0, le=MAX_ID, description="Letters to skip (the next page).")


class DeadAction(Request):
    action: Literal[DEAD_ACTIONS]  # type: ignore[valid-type]
    spider: Line | None = Field(None, description="Only this spider's letters; every spider's when left out.")
    ids: list[Annotated[str, Field(pattern=DEAD_ID)]] = Field(
        [], max_length=DEAD_MAX_IDS, description="Only these letters; all when left out."
    )

    # A wrong action or id is a malformed request (400), as it always was.
    SHAPE_FIELDS: ClassVar[frozenset[str]] = frozenset({"action", "ids"})
    MESSAGES: ClassVar[dict[str, str]] = {
        "action": f"'action' must be one of {', '.join(DEAD_ACTIONS)}",
        "ids": f"'ids' must be an array of at most {DEAD_MAX_IDS} dead letter ids (12 hex digits)",
    }


class DeadLetter(BaseModel):
    id: str = Field(pattern=DEAD_ID, description="Stable while the letter is stored.")
    spider: str
    payload: str = Field(description="What arrived (its first 2,000 characters; bytes not UTF-8 as \\xff).")
    reason: str = Field(description="Why it was refused.")
    worker: str | None = Field(None, description="The worker that refused it.")
    at: str | None = Field(None, description="When, ISO 8601.")
    payload_bytes: int | None = Field(None, description="The full size, when the payload was cut.")
    deliveries: int | None = None
    requeueable: bool = Field(description="false when only part of the payload was kept.")


class DeadList(BaseModel):
    dead: list[DeadLetter]
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last.")


class DeadSkipped(BaseModel):
    id: str
    spider: str
    reason: str


class DeadDone(BaseModel):
    action: Literal[DEAD_ACTIONS]  # type: ignore[valid-type]
    done: int = Field(description="Letters requeued or purged.")
    by_spider: dict[str, int]
    skipped: list[DeadSkipped]
    missing: list[str] = Field(description="Ids asked for that were not found.")


# -- refusals --------------------------------------------------------------------------------------

_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
# Pydantic error types that mean "the right type, a refused value": a 422. Anything else is a 400.
_VALUE_ERRORS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "string_pattern_mismatch",
        "string_too_long",
        "value_error",
        "literal_error",
    }
)
_TYPE_WORDS = {
    "int": "a whole number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a JSON object",
    "list": "an array",
    "float": "a number",
}


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _words(error: dict[str, Any]) -> str:
    kind = error["type"]
    for prefix, words in _TYPE_WORDS.items():
        if kind.startswith(prefix + "_") and kind.endswith(("_type", "_parsing", "_from_float")):
            return f"must be {words}"
    if kind == "string_too_short":
        return "must be a non-empty string"
    if kind in _RANGE_ERRORS:
        return f"{error['input']!r} is out of range: {error['msg'].lower()}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error") or error["msg"])
    return error["msg"][:1].lower() + error["msg"][1:]


def refusal(exc: ValidationError, model: type[BaseModel], *, where: str = "body") -> ApiError:
    """The API's answer to a refused request: one line naming the first problem, all of them in details."""
    errors = exc.errors(include_url=False)
    details = []
    for error in errors:
        loc = tuple(error["loc"])
        name = _field(loc) or "body"
        if where == "query":
            details.append({"field": name, "error": f"query parameter {name}={error['input']!r}: {_words(error)}"})
        elif error["type"] == "missing":
            details.append({"field": name, "error": f"missing field {name!r}"})
        elif error["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            details.append({"field": name, "error": f"unknown field {name!r}: use {allowed}"})
        else:
            messages = getattr(model, "MESSAGES", {})
            top = str(loc[0]) if loc else ""
            kind = "range" if error["type"] in _RANGE_ERRORS else error["type"]
            custom = messages.get(f"{top}:{kind}") or messages.get(top)
            text = custom.format(input=error.get("input")) if custom else f"{name!r} {_words(error)}"
            details.append({"field": name, "error": text})
    first = errors[0]
    # In a query string only a value that has the right form and still means nothing (2024-02-30) is a 422;
    # a model's SHAPE_FIELDS are refused as malformed (400) whatever is wrong with them.
    value_errors = _VALUE_ERRORS if where == "body" else {"value_error"}
    shape = first["loc"] and str(first["loc"][0]) in getattr(model, "SHAPE_FIELDS", ())
    status = 422 if first["type"] in value_errors and not shape else 400
    return ApiError(status, details[0]["error"], details=details if len(details) > 1 else None)


def validate_body(model: type[Request], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise refusal(exc, model) from None


def validate_query(model: type[Query], args: Any) -> Any:
    # A parameter given twice counts once (the first), as the routes always read it.
    values = {name: args.get(name) for name in model.model_fields if args.get(name) is not None}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise refusal(exc, model, where="query") from None
