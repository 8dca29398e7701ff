"""Spider arguments shared by every scraperq spider."""

from __future__ import annotations

import pytest

from scraperq.errors import BadInput
from scraperq.spiders.base import parse_int_arg, split_urls


def test_urls_argument_splits_on_whitespace_and_commas_before_a_url() -> None:
    assert split_urls("http://a.test/x?ids=1,2,http://b.test/ https://c.test/\nhttp://d.test") == [
        "http://a.test/x?ids=1,2",
        "http://b.test/",
        "https://c.test/",
        "http://d.test",
    ]


def test_int_argument_names_the_argument_when_malformed() -> None:
    with pytest.raises(BadInput, match=r"-a depth='two': not a whole number"):
        parse_int_arg("depth", "two")
    with pytest.raises(BadInput, match="at least 0"):
        parse_int_arg("depth", "-1")
