"""Scrapy commands of the project (``COMMANDS_MODULE``): ``crawl`` with one-line errors, and ``crawl``
and ``settings`` reading the environment's overrides beneath ``-s`` (:func:`process_options`)."""

from __future__ import annotations

import sys
from typing import Any

from scrapy.utils.conf import arglist_to_dict

from scraperq.config import apply_environment
from scraperq.errors import ConfigError
from scraperq.settingtypes import likely_misspelling

EXIT_USAGE = 2


def process_options(command: Any, parent: Any, args: list[str], opts: Any) -> None:
    """``parent.process_options`` with the environment applied first, so that ``-s`` wins over it.

    A malformed override ends the command in one line, exit status 2; an ``-s`` name that is
    not a setting but a letter or two from one is warned about in one line.
    """
    name = command.__module__.rsplit(".", 1)[-1]
    try:
        apply_environment(command.settings)
    except ConfigError as exc:
        print(f"scrapy {name}: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    known = list(command.settings)
    parent.process_options(command, args, opts)
    for given in arglist_to_dict(getattr(opts, "set", None) or []):
        close = likely_misspelling(given, known)
        if close:
            print(f"scrapy {name}: warning: -s {given} is not a setting; did you mean {close}?", file=sys.stderr)
