"""The source files: the package's own (``scraperq/sources/``) and those of ``SCRAPERQ_SOURCES_DIR``.

Kept apart from the spider loader so that the scheduler can list the sources
(their names, kinds and ``args``) without Scrapy: :func:`source_summaries`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SUFFIXES = (".yaml", ".yml")
PACKAGE = "scraperq.sources"


class SourceError(Exception):
    """A source file that cannot become a spider: which file, which field, why."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        super().__init__(f"{file}: {field}: {reason}")
        self.file = file
        self.field = field
        self.reason = reason


def source_files(extra_dirs: str | None) -> Iterator[tuple[str, str, str | SourceError]]:
    """``(label, stem, text)`` for each source file, or an error in place of the text."""
    packaged = resources.files(PACKAGE)
    for entry in sorted(packaged.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(SUFFIXES) and entry.is_file():
            label = f"{PACKAGE.replace('.', '/')}/{entry.name}"
            yield label, _stem(entry.name), entry.read_text(encoding="utf-8")
    for folder in (extra_dirs or "").split(os.pathsep):
        if not folder.strip():
            continue
        path = Path(folder.strip()).expanduser()
        if not path.is_dir():
            yield str(path), "", SourceError(str(path), "SCRAPERQ_SOURCES_DIR", "not a folder")
            continue
        for file in sorted(p for p in path.iterdir() if p.name.endswith(SUFFIXES) and p.is_file()):
            try:
                yield str(file), _stem(file.name), file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                yield str(file), "", SourceError(str(file), "(file)", f"cannot be read: {exc}")


def _stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0]


@dataclass(frozen=True)
class SourceSummary:
    """What the scheduler needs of a source file: its spider's name, its kind, its ``args`` and item fields."""

    name: str
    kind: str
    file: str
    args: dict[str, str] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the item fields its ``fields`` rules declare, after ``url``


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def source_summaries(extra_dirs: str | None) -> list[SourceSummary]:
    """Name, kind and args of each readable source file, in loading order (the first of a name wins).

    Only what names the spider is read here; the spider loader checks the whole file when
    a crawl starts, and refuses a file with a mistake there, with the file and field.
    """
    found: dict[str, SourceSummary] = {}
    for label, stem, text in source_files(extra_dirs):
        if not isinstance(text, str):
            continue
        try:
            raw: Any = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if not isinstance(raw, dict):
            continue
        name, kind, args = raw.get("name", stem), raw.get("kind", "html"), raw.get("args") or {}
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(args, dict):
            continue
        rules = raw.get("fields")
        fields = tuple(dict.fromkeys(["url", *map(str, rules)])) if isinstance(rules, dict) and rules else ()
        summary = SourceSummary(name, str(kind), label, {str(k): str(v) for k, v in args.items()}, fields)
        found.setdefault(name, summary)
    return list(found.values())
