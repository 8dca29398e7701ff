"""Progress on a terminal for long commands (purge, results exports): rows done, rate, time left.

Drawn on standard error, and only when it is a terminal: piped or redirected to a
file, a command prints nothing but its output and its summary.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def on_terminal() -> bool:
    return sys.stderr.isatty()


def bar(total: int | None, what: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=what,
        unit=" rows",
        unit_scale=True,
        file=sys.stderr,
        disable=not on_terminal(),
        dynamic_ncols=True,
        leave=False,
    )


class Timer:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def rate(self, rows: int) -> str:
        seconds = max(time.perf_counter() - self.started, 1e-6)
        return f"{rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)"
