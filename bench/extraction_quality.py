"""Main text and article metadata on 300 real pages: scraperq beside trafilatura and readability-lxml.

Run from the project folder::

    .venv/bin/python bench/extraction_quality.py [--every 1]

The pages are ``tests/data/extraction`` (real news, blog, forum and institutional
pages with fragments the main text must and must not contain; see its README).
Scoring is the evaluation set's own (``tests/extraction_data.py``): precision,
recall and F1 over all fragments. Time is CPU time per page in this process,
from the page's bytes to the text, parsing included:

* scraperq: ``extract_page`` as the generic spider runs it (text, metadata,
  links, headings...), in each ``-a text=`` mode; ``main`` is the default;
* trafilatura: ``trafilatura.extract(html)`` with its default settings;
* readability-lxml: ``Document(html).summary()``, as text.

Then metadata against the set's ground truth where it has one: the headline
(``title``, compared without case and spacing), the publication day (``date``)
and the authors (``author``, compared as a set of names), for scraperq and for
trafilatura's ``extract_metadata``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.extraction_data import SavedPage, Score, sample  # noqa: E402


def run_text(pages: list[SavedPage], extract: Callable[[SavedPage], str | None]) -> tuple[Score, float]:
    score = Score()
    spent = 0.0
    for page in pages:
        started = time.process_time()
        text = extract(page)
        spent += time.process_time() - started
        score.add(page, text)
    return score, 1000 * spent / len(pages)


def scraperq_text(mode: str) -> Callable[[SavedPage], str | None]:
    from scraperq.extract import extract_page

    return lambda page: extract_page(page.response(), text_mode=mode)["text"]


def trafilatura_text(page: SavedPage) -> str | None:
    import trafilatura

    return trafilatura.extract(page.response().text)


def readability_text(page: SavedPage) -> str | None:
    import lxml.html
    from readability import Document

    summary = Document(page.response().text).summary()
    return lxml.html.fromstring(summary).text_content() if summary.strip() else None


# -- metadata --------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _author_set(value: Any) -> set[str]:
    names = value if isinstance(value, list) else re.split(r";|\s+(?:and|und|&)\s+", value or "")
    return {_norm(n) for n in names if n and n.strip()}


def run_metadata(pages: list[SavedPage], read: Callable[[SavedPage], dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per field: (right, pages with ground truth)."""
    tally = {"title": [0, 0], "date": [0, 0], "author": [0, 0]}
    for page in pages:
        found = read(page)
        for field, counts in tally.items():
            truth = page.expected.get(field)
            if not truth:
                continue
            counts[1] += 1
            got = found.get(field)
            if not got:
                continue
            if field == "title":
                counts[0] += _norm(got) == _norm(truth)
            elif field == "date":
                counts[0] += str(got)[:10] == truth[:10]
            else:
                counts[0] += _author_set(got) == _author_set(truth)
    return {field: (right, total) for field, (right, total) in tally.items()}


def scraperq_metadata(page: SavedPage) -> dict[str, Any]:
    from scraperq.extract import extract_page

    found = extract_page(page.response(), text_mode="none")
    return {"title": found["headline"], "date": found["published"], "author": found["authors"]}


def trafilatura_metadata(page: SavedPage) -> dict[str, Any]:
    from trafilatura import load_html
    from trafilatura.metadata import extract_metadata

    document = extract_metadata(load_html(page.response().text), page.url)
    return {"title": document.title, "date": document.date, "author": document.author}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--every", type=int, default=1, help="use every Nth page (1: all 300)")
    parser.add_argument("--no-metadata", action="store_true", help="skip the metadata comparison")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the extractors' notes about short pages
    pages = list(sample(args.every))
    rows = [
        ("scraperq (text=main, default)", scraperq_text("main")),
        ("scraperq (text=precision)", scraperq_text("precision")),
        ("scraperq (text=recall)", scraperq_text("recall")),
        ("scraperq (text=fast)", scraperq_text("fast")),
        ("trafilatura (defaults)", trafilatura_text),
        ("readability-lxml", readability_text),
    ]
    # Warm up (imports, models, caches) outside the measured time.
    for _, extract in rows:
        extract(pages[0])
    print(
        f"main text, {len(pages)} real pages, {sum(len(p.expected['with']) for p in pages)} expected and"
        f" {sum(len(p.expected['without']) for p in pages)} unwanted fragments\n"
    )
    print(f"{'extractor':<34}{'precision':>10}{'recall':>8}{'F1':>7}{'ms/page':>9}")
    for label, extract in rows:
        score, ms = run_text(pages, extract)
        print(f"{label:<34}{score.precision:>10.3f}{score.recall:>8.3f}{score.f1:>7.3f}{ms:>9.1f}", flush=True)
    if args.no_metadata:
        return
    print("\nmetadata against the set's ground truth (right / pages that have it)\n")
    print(f"{'extractor':<34}{'headline':>14}{'published day':>16}{'authors':>14}")
    for label, read in (("scraperq", scraperq_metadata), ("trafilatura extract_metadata", trafilatura_metadata)):
        tally = run_metadata(pages, read)
        cells = [f"{right}/{total} {right / total:.0%}" if total else "-" for right, total in tally.values()]
        print(f"{label:<34}{cells[0]:>14}{cells[1]:>16}{cells[2]:>14}", flush=True)


if __name__ == "__main__":
    main()
