"""The scheduler daemon's HTTP API, dashboard and metrics (DESIGN.md: "HTTP API").

``scraperq scheduler`` runs it beside the daemon's loop, in the same process,
on ``SCRAPERQ_API_BIND`` (default ``127.0.0.1:6810``); ``SCRAPERQ_API_TOKEN``
guards it and is required off loopback (:mod:`scheduler.api.config`).

Modules, one concern each:

* :mod:`~scheduler.api.server`: the HTTP server (waitress; why, in its docstring);
* :mod:`~scheduler.api.app`: the WSGI application: the routes' list, token, JSON errors;
* :mod:`~scheduler.api.models`: the pydantic models that validate requests and describe answers;
* :mod:`~scheduler.api.http`: request parsing, what no request may hold, the status codes used;
* :mod:`~scheduler.api.tasks`, :mod:`~scheduler.api.submit`, :mod:`~scheduler.api.results`,
  :mod:`~scheduler.api.schedules`, :mod:`~scheduler.api.runs`, :mod:`~scheduler.api.system`,
  :mod:`~scheduler.api.cancel`, :mod:`~scheduler.api.joblog`, :mod:`~scheduler.api.queues`,
  :mod:`~scheduler.api.dead`: the routes;
* :mod:`~scheduler.api.openapi`: ``/openapi.json``, generated from the routes and the models;
* :mod:`~scheduler.api.docs`: ``/docs`` (Swagger UI, its files from the installed package);
* :mod:`~scheduler.api.dashboard` (with :mod:`~scheduler.api.panels`, :mod:`~scheduler.api.charts`,
  :mod:`~scheduler.api.html` and the files :mod:`~scheduler.api.static` serves): the console at ``/``;
* :mod:`~scheduler.api.metrics`: ``/metrics``.

Nothing starts at import time: :func:`serve` binds and starts the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.api.config import ApiConfig
    from scheduler.api.server import ApiServer
    from scheduler.app import SchedulerApp


def serve(settings: Any, app: SchedulerApp, *, config: ApiConfig | None = None) -> ApiServer:
    """Serve the API for the daemon ``app`` in a background thread; ``stop()`` the result to end it.

    Raises :class:`~scraperq.errors.ConfigError` (one line) before anything is
    bound when the settings are not usable, e.g. a non-loopback address without
    ``SCRAPERQ_API_TOKEN``, and when the address cannot be bound.
    """
    from scheduler.api.app import ApiApp
    from scheduler.api.config import ApiConfig
    from scheduler.api.context import ApiContext
    from scheduler.api.server import ApiServer

    config = config or ApiConfig.from_settings(settings)
    context = ApiContext.for_scheduler(app, settings, config)
    return ApiServer(ApiApp(context), config).start()
