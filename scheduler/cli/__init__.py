"""The scheduler's commands of the ``scraperq`` CLI: ``scraperq schedule ...`` and ``scraperq scheduler``.

They are registered from here, through the ``scraperq.commands`` entry points
that pyproject.toml declares, so the ``scraperq`` package never imports
``scheduler/``: without the scheduler's dependencies installed, ``scraperq``
still works and says in one line what ``scraperq schedule`` needs.
"""

from __future__ import annotations

import importlib

from scheduler.settings import ProjectSettings
from scraperq.storage import Database, database_url, open_database

# What the scheduler installs beyond scraperq's own dependencies (pyproject.toml: the "scheduler" extra).
EXTRA_MODULES = ("cronsim", "waitress", "werkzeug", "zoneinfo", "pydantic", "prometheus_client")


def require_extras() -> None:
    """ImportError (naming the module) unless the scheduler's dependencies are installed.

    Called when a command module loads, so that the ``scraperq`` CLI can list the command
    anyway and say what to install, instead of failing half-way through with a traceback.
    """
    for name in EXTRA_MODULES:
        importlib.import_module(name)


def settings() -> ProjectSettings:
    return ProjectSettings.load()


def open_db(project: ProjectSettings | None = None) -> Database:
    return open_database(database_url(project or settings()))
