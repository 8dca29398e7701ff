"""A text's language, for pages whose markup does not say it.

py3langid (langid.py's maintained fork: 97 languages, its model ships inside the
package) classifies the page's main text. Texts too short to tell, and guesses
the model is not sure of, give None rather than a wrong code. The model loads
on the first call, so crawls of pages that declare their language never pay for it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_CHARACTERS = 40  # fewer letters than this are too few to tell languages apart
MIN_CONFIDENCE = 0.6  # normalized probability of the best guess
SAMPLE_CHARACTERS = 5000  # the start of a long text says as much as all of it, for less CPU


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str | None) -> str | None:
    """The ISO 639-1 code of ``text``'s language (``"de"``), or None when unsure."""
    if not text:
        return None
    sample = text[:SAMPLE_CHARACTERS]
    if sum(ch.isalpha() for ch in sample) < MIN_CHARACTERS:
        return None
    code, confidence = _identifier().classify(sample)
    return str(code) if confidence >= MIN_CONFIDENCE else None
