"""Counters of the API's own traffic, for ``/metrics``: requests by route, method and status.

Routes are counted by their pattern (``/api/tasks/{id}``), never by the path
asked for, so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._seconds: defaultdict[tuple[str, str], float] = defaultdict(float)

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, method, status)] += 1
            self._seconds[(route, method)] += seconds

    def snapshot(self) -> tuple[dict[tuple[str, str, int], int], dict[tuple[str, str], float]]:
        with self._lock:
            return dict(self._requests), dict(self._seconds)
