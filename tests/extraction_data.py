"""The saved real pages of ``tests/data/extraction`` and the scoring rules of their evaluation set.

Shared by the extraction tests and ``bench/extraction_quality.py``. Scoring is
trafilatura's own evaluation: for each page, every expected fragment (``with``)
found in the extracted text is a true positive and every one missing a false
negative; every unwanted fragment (``without``: menus, teasers, footers) found is
a false positive. Precision, recall and F1 are taken over all fragments.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from scrapy.http import HtmlResponse

DATA = Path(__file__).resolve().parent / "data" / "extraction"


@dataclass(frozen=True)
class SavedPage:
    url: str
    file: str
    expected: dict[str, Any]

    def response(self) -> HtmlResponse:
        """The page as a crawl would see it (served as UTF-8, as the set's README says to read it)."""
        body = gzip.decompress((DATA / "pages" / f"{self.file}.gz").read_bytes())
        return HtmlResponse(self.url, body=body, encoding="utf-8", headers={"Content-Type": "text/html"})


@cache
def saved_pages() -> tuple[SavedPage, ...]:
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    # A few keys carry a stray prefix before the scheme ("xhttps://"): the URL is what follows.
    return tuple(
        SavedPage(url=key[key.find("http") :], file=value["file"], expected=value) for key, value in expected.items()
    )


def sample(every: int) -> Iterator[SavedPage]:
    """Every ``every``-th page, a fixed spread over the whole set."""
    yield from saved_pages()[::every]


@dataclass
class Score:
    true_positives: int = 0
    false_negatives: int = 0
    false_positives: int = 0
    true_negatives: int = 0

    def add(self, page: SavedPage, text: str | None) -> None:
        text = text or ""
        for fragment in page.expected["with"]:
            if fragment in text:
                self.true_positives += 1
            else:
                self.false_negatives += 1
        for fragment in page.expected["without"]:
            if fragment in text:
                self.false_positives += 1
            else:
                self.true_negatives += 1

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
