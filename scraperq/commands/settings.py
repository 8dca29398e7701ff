"""``scrapy settings``, showing the settings a crawl gets: the environment's overrides beneath ``-s``."""

from __future__ import annotations

import argparse

from scrapy.commands import settings

from scraperq.commands import process_options


class Command(settings.Command):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        process_options(self, settings.Command, args, opts)
