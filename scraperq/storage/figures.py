"""Totals for monitoring (``/metrics``), each one grouped query: cheap enough to run at every scrape.

Counts are grouped by spider and by status; the caller decides which spider names
become labels (only the project's own), so nothing stored can grow the number of series.
"""

from __future__ import annotations

from scraperq.storage.connection import Database


def tasks_by_spider(db: Database) -> dict[tuple[str, str], int]:
    """(spider, status) -> tasks."""
    with db.transaction() as cur:
        rows = cur.execute("SELECT spider, status, COUNT(*) AS n FROM tasks GROUP BY spider, status").fetchall()
    return {(r["spider"], r["status"]): int(r["n"]) for r in rows}


def results_by_spider(db: Database) -> dict[str, int]:
    """spider -> results stored."""
    with db.transaction() as cur:
        rows = cur.execute("SELECT spider, COUNT(*) AS n FROM results GROUP BY spider").fetchall()
    return {r["spider"]: int(r["n"]) for r in rows}


def runs_by_spider(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    """(spider, status) -> (job runs, pages those runs received)."""
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT spider, status, COUNT(*) AS n, COALESCE(SUM(pages), 0) AS pages"
            " FROM job_runs GROUP BY spider, status"
        ).fetchall()
    return {(r["spider"], r["status"]): (int(r["n"]), int(r["pages"])) for r in rows}


def deliveries_by_status(db: Database) -> dict[tuple[str, str], int]:
    """(destination, status) -> alert deliveries."""
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT destination, status, COUNT(*) AS n FROM alert_deliveries GROUP BY destination, status"
        ).fetchall()
    return {(r["destination"], r["status"]): int(r["n"]) for r in rows}
