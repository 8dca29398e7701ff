"""A Scrapy extension for ``bench/soak.py --tracemalloc``: where a worker's memory grows.

It starts ``tracemalloc``, takes a snapshot once ``MEMTRACE_AFTER`` responses were
received (past warm-up) and another when the crawl closes, and writes the 15 source
lines whose allocations grew most in between to ``MEMTRACE_OUTPUT``.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from scrapy import signals


class MemTrace:
    def __init__(self, crawler: Any) -> None:
        self.after = crawler.settings.getint("MEMTRACE_AFTER", 500)
        self.output = crawler.settings.get("MEMTRACE_OUTPUT", "memtrace.txt")
        self.responses = 0
        self.first: tracemalloc.Snapshot | None = None
        tracemalloc.start(1)
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> MemTrace:
        return cls(crawler)

    def response_received(self, **_: Any) -> None:
        self.responses += 1
        if self.responses == self.after:
            self.first = tracemalloc.take_snapshot()

    def spider_closed(self, **_: Any) -> None:
        if self.first is None:
            return
        last = tracemalloc.take_snapshot()
        grown = [d for d in last.compare_to(self.first, "lineno") if d.size_diff > 0][:15]
        with open(self.output, "w") as out:
            out.write(f"growth from response {self.after} to response {self.responses}:\n")
            for diff in grown:
                frame = diff.traceback[0]
                where = f"{frame.filename}:{frame.lineno}"
                out.write(f"{diff.size_diff / 1024:10.1f} KiB {diff.count_diff:+8d} blocks  {where}\n")
