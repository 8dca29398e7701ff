"""What the generic spider extracts from a page, checked on hand-built responses."""

from __future__ import annotations

from datetime import date, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy.http import HtmlResponse, Response, TextResponse

from scraperq.article import parse_date
from scraperq.extract import describe_file, extract_page, visible_text
from scraperq.scope import FollowScope, registrable_domain
from tests.mockserver.pages import ARTICLE, PDF_BYTES

URL = "https://news.example.org/2024/river?x=1"


def page(html: str, url: str = URL, **headers: str) -> HtmlResponse:
    head = {"Content-Type": "text/html; charset=utf-8", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return HtmlResponse(url, body=html.encode("utf-8"), headers=head)


@pytest.fixture(scope="module")
def article() -> dict:
    return extract_page(page(ARTICLE))


def test_article_metadata(article: dict) -> None:
    assert article["url"] == URL
    assert article["status"] == 200
    assert article["title"] == "River levels rise in the valley"
    assert article["description"] == "Heavy rain pushed the river to its highest level in a decade."
    assert article["canonical"] == "https://news.example.org/article"
    assert article["language"] == "en-GB"


def test_headings_keep_document_order_and_level(article: dict) -> None:
    assert article["headings"] == [
        {"level": 1, "text": "River levels rise in the valley"},
        {"level": 2, "text": "What happens next"},
    ]


def test_main_text_keeps_the_story_and_drops_boilerplate(article: dict) -> None:
    text = article["text"]
    assert text.splitlines()[:4] == [
        "River levels rise in the valley",
        "Heavy rain over the weekend pushed the river to its highest level in a decade.",
        "What happens next",
        "Officials expect the water to recede by Thursday.",
    ]
    for boilerplate in ("should not appear", "color: red", "Sections", "Copyright footer"):
        assert boilerplate not in text


def test_article_metadata_prefers_json_ld(article: dict) -> None:
    assert article["headline"] == "River levels rise"  # JSON-LD headline before <title>
    assert article["authors"] == ["A. Writer"]
    assert article["image"] == "https://news.example.org/images/river.jpg"
    assert (article["published"], article["modified"], article["site_name"]) == (None, None, None)


def test_links_are_absolute_http_only_and_in_page_order(article: dict) -> None:
    assert article["links"] == [
        "https://news.example.org/",
        "https://news.example.org/site/1.html",
        "https://news.example.org/site/2.html",
        "https://elsewhere.example.org/page",
    ]


def test_opengraph_and_valid_json_ld_blocks(article: dict) -> None:
    assert article["opengraph"] == {
        "og:title": "River levels rise",
        "og:type": "article",
        "og:image": "https://news.example.org/images/river.jpg",
    }
    # The second block is not JSON: skipped, not a crash.
    assert article["json_ld"] == [
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": "River levels rise",
            "author": {"@type": "Person", "name": "A. Writer"},
        }
    ]


def test_links_resolve_against_base_drop_fragments_and_repeat_once() -> None:
    html = """<html><head><base href="https://cdn.example.org/docs/"></head><body>
      <a href="intro.html#top">a</a> <a href=" intro.html ">b</a> <a href="intro.html#end">c</a>
      <a href="#only-a-fragment">d</a> <a href="javascript:void(0)">e</a> <a href="mailto:x@example.org">f</a>
      <a href="//other.example.net/p?q=a b">g</a> <a>no href</a>
      <map><area href="/map-target"></map>
    </body></html>"""
    assert extract_page(page(html))["links"] == [
        "https://cdn.example.org/docs/intro.html",
        "https://cdn.example.org/docs/",
        "https://other.example.net/p?q=a%20b",
        "https://cdn.example.org/map-target",
    ]


def test_visible_text_prefers_article_when_there_is_no_main_and_body_otherwise() -> None:
    with_article = "<body><div>Site menu</div><article><p>Story one.</p></article><aside>Ads</aside></body>"
    assert visible_text(page(with_article).selector.root) == "Story one."
    plain = "<body><nav>Menu</nav><div>First block</div><div>Second <b>bold</b> block</div><footer>(c)</footer></body>"
    assert visible_text(page(plain).selector.root) == "First block\nSecond bold block"


def test_a_page_of_a_few_words_keeps_them() -> None:
    html = "<body><div id='app'><main></main></div><p>Rendered on the server after all.</p></body>"
    assert extract_page(page(html))["text"] == "Rendered on the server after all."


def test_visible_text_skips_role_navigation_hidden_elements_and_forms() -> None:
    html = """<body><div role="navigation">Skip me</div>
      <div role="main"><p>Visible <span hidden>secret</span>text</p>
        <form><input name="q"><button>Search</button>Search the site</form>
        <p aria-hidden="true">icon</p><!-- a comment --> after comment</div></body>"""
    assert visible_text(page(html).selector.root) == "Visible text\nafter comment"


def test_visible_text_keeps_a_form_wrapping_the_whole_page() -> None:
    html = "<body><form id='aspnetForm'><h1>Welcome</h1><p>Body text.</p></form></body>"
    assert visible_text(page(html).selector.root) == "Welcome\nBody text."


def test_deeply_nested_page_does_not_hit_the_recursion_limit() -> None:
    html = "<body>" + "<div>" * 1500 + "deep" + "</div>" * 1500 + "</body>"
    assert extract_page(page(html))["text"] == "deep"


def test_control_characters_do_not_lose_the_text() -> None:
    story = " ".join(f"Sentence {n} of a story about the river\x07 and the valley." for n in range(40))
    html = f"<html><body><nav>Menu</nav><article><h1>River</h1><p>{story}</p></article></body></html>"
    text = extract_page(page(html))["text"]
    assert "Sentence 39 of a story about the river and the valley." in text
    assert "\x07" not in text


def test_text_none_skips_the_main_text_and_keeps_the_rest() -> None:
    result = extract_page(page(ARTICLE), text_mode="none")
    assert result["text"] is None
    assert result["headline"] == "River levels rise"
    assert len(result["links"]) == 4


def test_language_falls_back_to_content_language() -> None:
    assert extract_page(page("<p>x</p>", content_language="fr-CA, en"))["language"] == "fr-CA"
    meta = '<head><meta http-equiv="Content-Language" content="de"></head><p>x</p>'
    assert extract_page(page(meta))["language"] == "de"
    assert extract_page(page("<p>x</p>"))["language"] is None  # too short to tell from the text
    locale = '<head><meta property="og:locale" content="pt_BR"></head><p>x</p>'
    assert extract_page(page(locale))["language"] == "pt-BR"


def test_missing_metadata_is_none_or_empty() -> None:
    result = extract_page(page(""))
    assert result["title"] is None
    assert result["description"] is None
    assert result["canonical"] is None
    assert (result["headings"], result["text"], result["links"]) == ([], "", [])
    assert (result["headline"], result["published"], result["authors"], result["image"]) == (None, None, [], None)
    assert (result["opengraph"], result["json_ld"]) == ({}, [])


def test_json_ld_with_comment_wrapper_and_raw_newlines() -> None:
    html = """<head><script type="application/ld+json; charset=utf-8"><!--
      {"@type": "Event", "name": "Two
      lines"}
    --></script><script type="application/ld+json">[{"@type": "A"}, {"@type": "B"}]</script>
    <script type="application/ld+json">{"broken": </script></head>"""
    assert extract_page(page(html))["json_ld"] == [
        {"@type": "Event", "name": "Two\n      lines"},
        [{"@type": "A"}, {"@type": "B"}],
    ]


def test_title_inside_svg_is_not_the_page_title() -> None:
    html = "<body><svg><title>icon</title></svg><h1>Only heading</h1></body>"
    assert extract_page(page(html))["title"] is None


@pytest.mark.parametrize(
    ("body", "ctype", "cls"),
    [(PDF_BYTES, "application/pdf", Response), (b'{"a": 1}', "application/json", TextResponse)],
)
def test_non_html_is_described_by_type_and_size(body: bytes, ctype: str, cls: type) -> None:
    response = cls("https://example.org/file", body=body, headers={"Content-Type": ctype}, status=200)
    assert describe_file(response) == {
        "url": "https://example.org/file",
        "status": 200,
        "content_type": ctype,
        "size": len(body),
    }


# -- follow scope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("a.example.co.uk", "b.example.co.uk", True),
        ("example.co.uk", "other.co.uk", False),
        ("www.example.com", "example.com", True),
        ("alice.github.io", "bob.github.io", False),  # private suffixes count
        ("a.intranet.corp", "b.intranet.corp", True),  # unknown suffix: last label
        ("127.0.0.1", "127.0.0.2", False),
    ],
)
def test_registrable_domain_is_public_suffix_aware(a: str, b: str, same: bool) -> None:
    assert (registrable_domain(a) == registrable_domain(b)) is same


def test_follow_scope_modes_and_allow() -> None:
    import re

    host = FollowScope("same-host", "www.example.co.uk")
    domain = FollowScope("same-domain", "www.example.co.uk", re.compile(r"/blog/"))
    assert host.permits("https://www.example.co.uk/x")
    assert not host.permits("https://shop.example.co.uk/x")
    assert domain.permits("https://shop.example.co.uk/blog/1")
    assert not domain.permits("https://shop.example.co.uk/about")
    assert not domain.permits("https://other.co.uk/blog/1")
    assert not FollowScope("none", "www.example.co.uk").permits("https://www.example.co.uk/x")


# -- dates, against the standard library's own readers and writers ---------------------------

DATES = st.datetimes(min_value=datetime(1990, 1, 2), max_value=datetime(2030, 12, 31), timezones=st.timezones())


@given(DATES)
def test_iso_dates_keep_their_instant_and_offset(when: datetime) -> None:
    parsed = parse_date(when.isoformat(), latest=date(2031, 1, 1))
    assert parsed is not None
    # Instants, not ==: an aware time in a repeated or skipped hour never equals one of
    # another zone under ==, whatever its instant (PEP 495's inter-zone rule).
    assert datetime.fromisoformat(parsed).timestamp() == when.timestamp()
    assert datetime.fromisoformat(parsed).utcoffset() == when.utcoffset()


@given(DATES)
def test_rfc_822_dates_read_as_email_utils_writes_them(when: datetime) -> None:
    when = when.replace(microsecond=0)
    parsed = parse_date(format_datetime(when), latest=date(2031, 1, 1))
    assert parsed is not None
    assert datetime.fromisoformat(parsed).timestamp() == when.timestamp()


@pytest.mark.parametrize("raw", ["1970-01-01", "0001-01-01T00:00:00Z", "2999-01-01", "soon", "32.13.2020", ""])
def test_placeholder_and_unreadable_dates_are_none(raw: str) -> None:
    assert parse_date(raw, latest=date(2031, 1, 1)) is None
