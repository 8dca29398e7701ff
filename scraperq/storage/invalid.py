"""Items refused by validation, counted on the task they came from.

``tasks.invalid_items`` counts them; ``tasks.invalid_reason`` keeps the latest
reason (``missing required field: title``), so ``scraperq task ID`` shows why a
completed task stored fewer items than its pages held.
"""

from __future__ import annotations

from collections.abc import Iterable

from scraperq.storage.connection import Cursor


def add_invalid_items(cur: Cursor, counts: Iterable[tuple[int, int, str]]) -> None:
    """``(task_id, how many, latest reason)`` for each task with refused items."""
    cur.executemany(
        "UPDATE tasks SET invalid_items = invalid_items + %s, invalid_reason = %s WHERE id = %s",
        [(n, reason, task_id) for task_id, n, reason in counts if n],
    )
