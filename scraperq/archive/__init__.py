"""Archives of deleted days: a folder or S3-compatible object storage (``SCRAPERQ_ARCHIVE_URL``).

One gzip-compressed JSON Lines object per UTC day and spider, ``DAY/SPIDER.jsonl.gz``,
beside its manifest ``DAY/SPIDER.manifest.json`` (rows, tasks, SHA-256, bytes).
Each line is ``{"table": "tasks"|"results", "row": {every column}}``: the tasks
first (those the day's results belong to, and the spider's tasks without results
that finished that day), then the results in id order. See :mod:`scraperq.archive.days`.
"""

from scraperq.archive.days import ArchivedDay, list_days, restore_day, write_day
from scraperq.archive.stores import ArchiveStore, open_store

__all__ = ["ArchiveStore", "ArchivedDay", "list_days", "open_store", "restore_day", "write_day"]
