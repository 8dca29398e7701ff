"""Main text and article metadata on real pages (tests/data/extraction), scored against their ground truth.

A fixed third of the 300 saved pages (every third one) is extracted once as the
generic spider does it. The floors sit a little below what the extractor scores
today, so a change that makes extraction worse on real pages fails here;
``bench/extraction_quality.py`` prints the full figures beside trafilatura's and
readability-lxml's.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

import pytest

from scraperq.extract import extract_page
from scraperq.language import detect_language
from tests.extraction_data import SavedPage, Score, sample

TEXT_F1_FLOOR = 0.88  # 0.90 on this sample today; trafilatura's defaults score 0.89
HEADLINE_FLOOR = 0.75  # 0.80 today
PUBLISHED_DAY_FLOOR = 0.78  # 0.84 today (the truth is the day as the site shows it, in its own time zone)
AUTHORS_FLOOR = 0.45  # 0.54 today


@pytest.fixture(scope="module")
def extracted() -> list[tuple[SavedPage, dict[str, Any]]]:
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    return [(page, extract_page(page.response())) for page in sample(3)]


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _accuracy(extracted: list[tuple[SavedPage, dict[str, Any]]], truth_key: str, same: Any) -> float:
    judged = [(page.expected[truth_key], found) for page, found in extracted if page.expected.get(truth_key)]
    assert len(judged) >= 50, "the sample should hold enough pages with this ground truth"
    return sum(bool(same(truth, found)) for truth, found in judged) / len(judged)


def test_main_text_of_real_pages_scores_above_the_floor(extracted: list[tuple[SavedPage, dict[str, Any]]]) -> None:
    score = Score()
    for page, found in extracted:
        score.add(page, found["text"])
    assert score.f1 >= TEXT_F1_FLOOR, f"P={score.precision:.3f} R={score.recall:.3f} F1={score.f1:.3f}"


def test_headline_matches_the_pages_own_headline(extracted: list[tuple[SavedPage, dict[str, Any]]]) -> None:
    rate = _accuracy(
        extracted, "title", lambda truth, found: found["headline"] and _norm(found["headline"]) == _norm(truth)
    )
    assert rate >= HEADLINE_FLOOR


def test_published_date_is_iso_8601_and_matches_the_day_shown(
    extracted: list[tuple[SavedPage, dict[str, Any]]],
) -> None:
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2})?)?$")
    for _, found in extracted:
        for field in ("published", "modified"):
            assert found[field] is None or iso.match(found[field]), found[field]
    rate = _accuracy(extracted, "date", lambda truth, found: (found["published"] or "")[:10] == truth[:10])
    assert rate >= PUBLISHED_DAY_FLOOR


def test_authors_match_the_bylines(extracted: list[tuple[SavedPage, dict[str, Any]]]) -> None:
    def names(value: Any) -> set[str]:
        values = value if isinstance(value, list) else re.split(r";|\s+(?:and|und|&)\s+", value)
        return {_norm(v) for v in values if v.strip()}

    rate = _accuracy(extracted, "author", lambda truth, found: names(found["authors"]) == names(truth))
    assert rate >= AUTHORS_FLOOR


def test_site_name_and_image_agree_with_trafilatura(extracted: list[tuple[SavedPage, dict[str, Any]]]) -> None:
    """trafilatura's own metadata reader is the reference: where it finds a site name or an
    image, ours is the same on most pages (the two read the same markup in different orders)."""
    from trafilatura import load_html
    from trafilatura.metadata import extract_metadata

    site_names = images = both_sites = both_images = 0
    for page, found in extracted[:60]:
        reference = extract_metadata(load_html(page.response().text), page.url)
        if reference.sitename and found["site_name"]:
            both_sites += 1
            site_names += _norm(reference.sitename) == _norm(found["site_name"])
        if reference.image and found["image"]:
            both_images += 1
            images += reference.image == found["image"]
    assert both_sites >= 25 and site_names / both_sites >= 0.8
    assert both_images >= 25 and images / both_images >= 0.8


def test_language_from_text_agrees_with_what_pages_declare(
    extracted: list[tuple[SavedPage, dict[str, Any]]],
) -> None:
    """Pages that declare their language (``<html lang>``) check the guess made from their text."""
    judged = right = 0
    for page, found in extracted:
        declared = (page.response().selector.root.get("lang") or "").split("-")[0].lower()
        if not declared or not found["text"]:
            continue
        judged += 1
        right += detect_language(found["text"]) == declared
    assert judged >= 50
    assert right / judged >= 0.9


def test_text_none_keeps_metadata_of_real_pages(extracted: list[tuple[SavedPage, dict[str, Any]]]) -> None:
    page, full = extracted[0]
    bare = extract_page(page.response(), text_mode="none")
    assert bare["text"] is None
    assert {k: v for k, v in bare.items() if k != "text"} == {k: v for k, v in full.items() if k != "text"}
