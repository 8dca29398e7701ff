"""The OpenAPI 3.1 description of the API, served at ``/openapi.json``, generated from the routes.

Nothing here is written by hand but words: each operation comes from its
:class:`~scheduler.api.app.Route` (summary, path, the query and body models that
validate the request, the models of its answers), and every schema from the
pydantic models of :mod:`scheduler.api.models`. A route added to ``ROUTES`` is
described at once; the tests check that the document is valid, that every answer
matches it, and schemathesis sends what it describes (and what it does not).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from scheduler.api import docs, models, static

if TYPE_CHECKING:
    from scheduler.api.app import Route

VERSION = "0.1.0"

Schema = dict[str, Any]

_REF = "#/components/schemas/{model}"

ERROR_MEANINGS = {
    400: "Malformed request: not JSON, a missing or mistyped field, a bad query parameter, control characters.",
    401: "Missing or wrong API token.",
    404: "No such task, schedule or route.",
    409: "Conflict with what is stored.",
    413: "Request body larger than SCRAPERQ_API_MAX_BODY (or too many URLs).",
    415: "The body is not sent as application/json.",
    422: "A value is refused: an invalid URL, an unknown spider, a cron expression that never fires...",
    503: "The database (or Redis, or every Scrapyd node) cannot be reached.",
}

# Path parameters, by name, as the routes' converters take them.
_PATH_SCHEMAS: dict[str, Schema] = {
    "task_id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": models.MAX_ID},
    "run_id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": models.MAX_ID},
    "filename": {"type": "string", "enum": sorted(static.FILES)},
    "name": {"type": "string", "pattern": models.SCHEDULE_NAME},
    "asset": {"type": "string", "enum": sorted(docs.ASSETS)},
}


def _models(routes: Iterable[Route]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Error": models.Error}
    for route in routes:
        for model in (route.body, *(a.model for a in route.answers.values())):
            if model is not None:
                found.setdefault(model.__name__, model)
    return list(found.values())


def _schemas(routes: Iterable[Route]) -> dict[str, Schema]:
    keyed = [(model, "validation") for model in _models(routes)]
    _, document = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    return dict(sorted(document.get("$defs", {}).items()))


def _ref(model: type[BaseModel]) -> Schema:
    return {"$ref": _REF.format(model=model.__name__)}


def _parameters(route: Route) -> list[Schema]:
    out = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS.get(name, {"type": "string"})}
        for name in _path_names(route.path)
    ]
    if route.query is not None:
        schema = route.query.model_json_schema(ref_template=_REF)
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            description = prop.pop("description", "")
            prop.pop("title", None)
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", ()),
                    "schema": _simple(prop),
                    "description": description,
                }
            )
    return out


def _simple(schema: Schema) -> Schema:
    """A query parameter's schema without the ``anyOf [..., null]`` of an optional field: absent is null."""
    options = schema.get("anyOf")
    if options:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            rest = {
                k: v for k, v in schema.items() if k not in ("anyOf", "default") or (k == "default" and v is not None)
            }
            return {**kept[0], **rest}
    return schema


def _path_names(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)


def _answer(answer: Any) -> Schema:
    out: Schema = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {"application/json": {"schema": _ref(answer.model)}}
    elif answer.media:
        out["content"] = {media: {"schema": {"type": "string"}} for media in answer.media}
    return out


def _operation(route: Route, auth: bool) -> Schema:
    operation: Schema = {"summary": route.summary or _first_line(route.handler.__doc__) or route.path}
    if route.description:
        operation["description"] = route.description
    operation["security"] = [{name: []} for name in route.security] if auth and not route.public else []
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.reads_body:
        schema = _ref(route.body) if route.body is not None else {"type": "object"}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    responses = {str(status): _answer(answer) for status, answer in route.answers.items()}
    if not responses:  # a route that does not say yet: some JSON, whatever its shape
        responses["200"] = {"description": "Success.", "content": {"application/json": {"schema": {}}}}
    codes = {400: "", 503: "", **({401: ""} if auth and not route.public else {}), **route.errors}
    if route.reads_body:
        codes = {413: "", 415: "", **codes}
    for status, meaning in codes.items():
        body = models.Health if route.public and status == 503 else models.Error
        responses[str(status)] = {
            "description": meaning or ERROR_MEANINGS.get(status, "Refused."),
            "content": {"application/json": {"schema": _ref(body)}},
        }
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


def document(routes: Iterable[Route], *, auth: bool = True) -> dict[str, Any]:
    """The document of ``routes``; with ``auth`` false (a server without a token), no route asks for one."""
    routes = tuple(routes)
    paths: dict[str, dict[str, Schema]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, auth)
    schemas = _schemas(routes)
    schemas.setdefault("Health", models.Health.model_json_schema(ref_template=_REF))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scraperq scheduler API",
            "version": VERSION,
            "description": "Tasks, results, schedules, jobs and Scrapyd nodes of a scraperq installation."
            " Errors are JSON `{error, status}` with a 4xx or 5xx code. When SCRAPERQ_API_TOKEN is set, every"
            " route but /healthz needs `Authorization: Bearer <token>`. Interactive documentation: /docs.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}] if auth else [],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "SCRAPERQ_API_TOKEN"},
                "basic": {"type": "http", "scheme": "basic", "description": "Any user, SCRAPERQ_API_TOKEN as password"},
            },
        },
    }


@functools.cache
def _served(auth: bool) -> dict[str, Any]:
    from scheduler.api.app import ROUTES

    return document(ROUTES, auth=auth)


def spec(*, auth: bool = True) -> dict[str, Any]:
    """The document of the served routes (a copy: callers may change it); ``auth``: a token is set."""
    return copy.deepcopy(_served(auth))
