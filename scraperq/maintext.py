"""A page's main text: the article or post itself, without menus, teasers, comments and footers.

The work is trafilatura's (the best open-source extractor on public benchmarks;
``bench/extraction_quality.py`` measures it here beside readability-lxml). It is
given the lxml tree parsel already built for the response, so the page is parsed
once; trafilatura works on its own copy, and this module hands it a cleaned one
(comments and processing instructions removed, as trafilatura's own parser does,
and control characters dropped, which lxml refuses to copy into new elements).

Modes (the generic spider's ``-a text=``):

* ``main`` (default): trafilatura's balanced mode, with its fallback extractors;
* ``precision`` / ``recall``: trafilatura's ``favor_precision`` / ``favor_recall``;
* ``fast``: trafilatura without its fallback extractors (about a third less CPU;
  also used for pages nested deeper than :data:`MAX_FALLBACK_DEPTH`, where the
  fallbacks' cost grows with the square of the depth);
* ``none``: no main text (links and metadata only).

Readers' comments are left out in every mode: they are not the page's text.
Tables are kept (row cells joined with ``|``).
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from functools import cache
from typing import Any

from lxml import etree

# Characters XML cannot hold; trafilatura builds new elements and fails on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Elements nested deeper than this make trafilatura's fallback extractors (jusText) take
# seconds per page, quadratic in the depth: such pages get fast mode. Real pages stay far
# below it. One XPath step per level, so the check visits each element once, in C.
MAX_FALLBACK_DEPTH = 200
_TOO_DEEP = etree.XPath("boolean(" + "/".join(["*"] * MAX_FALLBACK_DEPTH) + ")")


@cache
def _options(mode: str) -> Any:
    """trafilatura's options for a mode, built once (and trafilatura imported only when text is wanted)."""
    from trafilatura.settings import Extractor

    # trafilatura logs every page it finds too short at WARNING; here that is an empty field, not news.
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return Extractor(
        output_format="txt",
        fast=mode == "fast",
        precision=mode == "precision",
        recall=mode == "recall",
        comments=False,
        tables=True,
    )


def prepare(mode: str) -> None:
    """Import trafilatura and build the mode's options now, before the crawl takes work.

    The import takes a second or more of CPU; done by the first page, it would stall the
    reactor while the worker holds leased entries (and, on a loaded machine, past its lease).
    """
    if mode != "none":
        import trafilatura  # noqa: F401 - the import is the point

        _options(mode)


def extract_main_text(root: Any, *, mode: str = "main", has_control_chars: bool = False) -> str | None:
    """trafilatura's main text of the page whose lxml tree is ``root`` (not modified).

    None when it finds nothing worth keeping, and for ``mode="none"``.

    ``has_control_chars`` says the document holds characters XML cannot, so
    they are removed from the copy first (a scan of the tree, skipped otherwise).
    """
    if mode == "none":
        return None
    from trafilatura import extract

    if mode != "fast" and _TOO_DEEP(root):
        mode = "fast"
    tree = _cleaned_copy(root, has_control_chars)
    try:
        text = extract(tree, options=_options(mode))
    except (ValueError, etree.LxmlError):  # trafilatura gives up on trees it cannot handle
        text = None
    return text or None


def _cleaned_copy(root: Any, has_control_chars: bool) -> Any:
    tree = deepcopy(root)
    etree.strip_elements(tree, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    if has_control_chars:
        for element in tree.iter():
            if element.text and _CONTROL.search(element.text):
                element.text = _CONTROL.sub("", element.text)
            if element.tail and _CONTROL.search(element.tail):
                element.tail = _CONTROL.sub("", element.tail)
    return tree


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None
