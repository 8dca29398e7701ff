"""Fixture sites for the per-source, feed, sitemap, JSON API and rendering tests.

``/news/``                      a news site: categories Inland, Sport, Kultur (links on the home page)
``/news/<cat>/?page=N``         a category listing, 3 pages, headlines in ``h2.headline``, ``a[rel=next]``;
                                page 1 of Inland also links an offsite story and one under /private/
``/news/story/<cat>-<p>-<i>.html`` a story: h1, time, author, lead, body, section breadcrumb;
                                story ``inland-1-3`` has no headline (an invalid item)
``/shop/bestsellers?page=N``    a listing with the items on it (``li.book``), 2 pages
``/echo/agent``                 a page whose h1 is the request's User-Agent
``/feeds/rss.xml`` ``/feeds/atom.xml``  an RSS 2.0 and an Atom feed
``/feeds/home.html``            an HTML page advertising the RSS feed
``/feeds/rss091.xml`` ``rdf.xml`` ``wordpress.xml`` ``atom-base.xml``  RSS 0.91 (Latin-1), RSS 1.0 (RDF),
                                a WordPress-style RSS 2.0 (CDATA, content:encoded, a broken date) and an
                                Atom feed with xml:base and relative links
``/daily/feed.xml`` ``/daily/<a|b|c>.html``  a news site on day 1 (a, b) or day 2 (a, b changed, c new):
                                ``/daily/__day__?n=2`` moves it on
``/sitemaps/index.xml``         a sitemap index -> ``pages.xml`` and the gzipped ``news.xml.gz``
``/api/books?cursor=C``         a JSON API with cursor pagination, 5 books, 2 per page;
                                needs ``Authorization: Bearer test-api-key`` (else 401)
``/api/numbers?page=N``         a JSON API with page numbers: 3 pages of records, then an empty page
``/js/app.html?id=N``           content built by a script: the plain HTML is an empty shell
``/js/static.html?id=N``        the same content written in the HTML (for the benchmark)
``/js/guard.html?target=URL``   a script fetching URL, and URL through a same-site redirect; ``#done`` after both
"""

from __future__ import annotations

import gzip
import html
import json
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

API_KEY = "test-api-key"
CATEGORIES = ("Inland", "Sport", "Kultur")
LISTING_PAGES = 3
STORIES_PER_PAGE = 2
BOOKS = [
    {"id": 1, "title": "The River", "author": {"name": "A. Writer"}, "rank": 1},
    {"id": 2, "title": "Night Trains", "author": {"name": "B. Author"}, "rank": 2},
    {"id": 3, "title": "", "author": {"name": "C. Nobody"}, "rank": 3},  # no title: an invalid item
    {"id": 4, "title": "Salt and Stone", "author": {"name": "D. Poet"}, "rank": 4},
    {"id": 5, "title": "Last Light", "author": {"name": "E. Novelist"}, "rank": 5},
]
APP_TEXT = (
    "This story only exists once the script has run. It is long enough to count as a real page "
    "of text, with several sentences about the river, the valley and the people who live there, "
    "so that a reader would find something worth keeping."
)


def route(handler: Any, path: str, query: dict[str, str]) -> bool:
    """Serve ``path`` if it is one of these fixtures; False leaves it to the main router."""
    for prefix, serve in _ROUTES:
        if path == prefix.rstrip("/") or path.startswith(prefix):
            serve(handler, path, query)
            return True
    return False


def _html(handler: Any, body: str, status: int = 200) -> None:
    handler.send(status, body, "text/html; charset=utf-8")


# -- news ----------------------------------------------------------------------------


def _news(handler: Any, path: str, query: dict[str, str]) -> None:
    parts = [p for p in path.split("/") if p][1:]
    if not parts:
        links = "".join(f'<li><a href="/news/{c.lower()}/">{c}</a></li>' for c in CATEGORIES)
        return _html(handler, f"<html><head><title>News</title></head><body><ul>{links}</ul></body></html>")
    if parts[0] == "story" and len(parts) == 2:
        return _story(handler, parts[1].removesuffix(".html"))
    names = {c.lower(): c for c in CATEGORIES}
    if len(parts) == 1 and parts[0] in names:
        return _listing(handler, names[parts[0]], int(query.get("page", "1")), handler.headers.get("Host", ""))
    _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)


def _listing(handler: Any, category: str, page: int, host: str) -> None:
    if not 1 <= page <= LISTING_PAGES:
        return _html(handler, "<html><body><h1>No such page</h1></body></html>", 404)
    slug = category.lower()
    stories = "".join(
        f'<h2 class="headline"><a href="/news/story/{slug}-{page}-{i}.html">{category} story {page}.{i}</a></h2>'
        for i in range(1, STORIES_PER_PAGE + 1)
    )
    if category == "Inland" and page == 1:
        port = host.rsplit(":", 1)[-1]
        stories += (
            f'<h2 class="headline"><a href="http://localhost:{port}/news/story/offsite-1-1.html">Elsewhere</a></h2>'
            '<h2 class="headline"><a href="/private/news/secret.html">Members only</a></h2>'
            '<h2 class="headline"><a href="/news/story/inland-1-3.html">A broken story</a></h2>'
        )
    nav = f'<a rel="next" href="/news/{slug}/?page={page + 1}">Next</a>' if page < LISTING_PAGES else ""
    _html(
        handler,
        f"<html><head><title>{category}, page {page}</title></head><body>"
        f'<nav class="menu"><a href="/news/">Home</a></nav><main>{stories}</main>'
        f'<div class="pager">{nav}</div></body></html>',
    )


def _story(handler: Any, slug: str) -> None:
    try:
        category, page, index = slug.rsplit("-", 2)
    except ValueError:
        return _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)
    section = category.capitalize()
    headline = "" if slug == "inland-1-3" else f"<h1>{section} story {page}.{index}</h1>"
    _html(
        handler,
        f"<html><head><title>{section} {page}.{index}</title></head><body>"
        f'<nav class="crumbs"><a href="/news/">News</a> <a class="section" href="/news/{category}/">{section}</a></nav>'
        f"<article>{headline}"
        f'<time datetime="2026-03-0{index}T08:00:00Z">March {index}</time>'
        f'<span class="author">Reporter {index}</span>'
        f'<p class="lead">The lead of {section} story {page}.{index}.</p>'
        f'<div class="body"><p>First paragraph.</p><p>Second   paragraph.</p></div>'
        "</article></body></html>",
    )


# -- a listing with the items on it ------------------------------------------------------


def _shop(handler: Any, path: str, query: dict[str, str]) -> None:
    page = int(query.get("page", "1"))
    if path != "/shop/bestsellers" or not 1 <= page <= 2:
        return _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)
    books = [b for b in BOOKS if (b["rank"] - 1) // 3 + 1 == page]
    rows = "".join(
        f'<li class="book"><a href="/shop/book/{b["id"]}"><span class="title">{html.escape(b["title"])}</span></a>'
        f' by <span class="author">{b["author"]["name"]}</span> <b class="rank">{b["rank"]}</b></li>'
        for b in books
    )
    nav = '<a class="next" href="/shop/bestsellers?page=2">More</a>' if page == 1 else ""
    _html(handler, f"<html><body><ol>{rows}</ol>{nav}</body></html>")


def _echo(handler: Any, path: str, query: dict[str, str]) -> None:
    agent = html.escape(handler.headers.get("User-Agent", ""))
    _html(handler, f"<html><body><h1>{agent}</h1></body></html>")


# -- feeds and sitemaps ----------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Valley News</title>
  <link>/news/</link>
  <item>
    <title>River levels rise</title>
    <link>/news/story/inland-1-1.html</link>
    <guid isPermaLink="false">story-1</guid>
    <pubDate>Mon, 02 Mar 2026 08:00:00 +0100</pubDate>
    <dc:creator>A. Writer</dc:creator>
    <category>Inland</category><category>Weather</category>
    <description>Heavy rain &lt;b&gt;pushed&lt;/b&gt; the river up.</description>
  </item>
  <item>
    <title>Cup final tonight</title>
    <link>/news/story/sport-1-1.html</link>
    <pubDate>Tue, 03 Mar 2026 18:30:00 GMT</pubDate>
  </item>
  <item>
    <title>No link here</title>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Valley Culture</title>
  <entry>
    <title>Opening night</title>
    <link rel="alternate" href="/news/story/kultur-1-1.html"/>
    <id>urn:uuid:1</id>
    <published>2026-03-04T19:00:00Z</published>
    <updated>2026-03-05T09:00:00Z</updated>
    <author><name>C. Critic</name></author>
    <category term="Kultur"/>
    <summary>A new play opens.</summary>
  </entry>
  <entry>
    <title>Gallery reopens</title>
    <link href="/news/story/kultur-1-2.html"/>
    <id>urn:uuid:2</id>
    <updated>2026-03-06T10:00:00+01:00</updated>
  </entry>
</feed>
"""


# The shapes feeds take in the wild, each with two entries linking to stories of /news/.
RSS091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel>
  <title>Valley Wire</title><link>http://valley.example/</link><description>Old-school</description><language>en</language>
  <item><title>Caf\xe9 opens by the river</title><link>/news/story/inland-1-1.html</link>
    <description>A new caf\xe9.</description></item>
  <item><title>Cup final tonight</title><link>/news/story/sport-1-1.html</link></item>
</channel></rss>
"""

RDF = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="/feeds/rdf.xml"><title>Valley RDF</title><link>/news/</link>
    <items><rdf:Seq><rdf:li rdf:resource="/news/story/inland-1-1.html"/></rdf:Seq></items></channel>
  <item rdf:about="/news/story/inland-1-1.html"><title>River levels rise</title>
    <link>/news/story/inland-1-1.html</link><dc:date>2026-03-02T08:00:00+01:00</dc:date>
    <dc:creator>A. Writer</dc:creator><dc:subject>Inland</dc:subject></item>
  <item rdf:about="/news/story/sport-1-2.html"><title>Second half</title>
    <link>/news/story/sport-1-2.html</link><dc:date>2026-03-03</dc:date></item>
</rdf:RDF>
"""

# WordPress-style: CDATA, content:encoded, dc:creator, a relative link, an unreadable date, an HTML entity.
WORDPRESS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title><![CDATA[Valley <Blog>]]></title>
  <atom:link href="/feeds/wordpress.xml" rel="self" type="application/rss+xml"/>
  <item>
    <title><![CDATA[Rain & wind: the week ahead]]></title>
    <link>/news/story/kultur-1-1.html?utm_source=rss</link>
    <pubDate>Wed, 04 Mar 2026 19:00:00 +0000</pubDate>
    <dc:creator><![CDATA[C. Critic]]></dc:creator>
    <category><![CDATA[Kultur]]></category>
    <guid isPermaLink="false">https://valley.example/?p=101</guid>
    <description><![CDATA[<p>Short teaser&#8230;</p>]]></description>
    <content:encoded><![CDATA[<p>The <em>whole</em> story.</p><script>alert(1)</script>]]></content:encoded>
    <media:content url="/images/rain.jpg" medium="image"/>
  </item>
  <item>
    <title>Gallery reopens</title>
    <link>/news/story/kultur-1-2.html</link>
    <pubDate>sometime last week</pubDate>
  </item>
</channel>
</rss>
"""

ATOM_BASE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/news/story/">
  <title type="html">Valley &lt;b&gt;Sport&lt;/b&gt;</title>
  <entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Derby <b>day</b></div></title>
    <link rel="alternate" type="text/html" href="sport-1-1.html"/><link rel="enclosure" href="/audio.mp3"/>
    <id>tag:valley.example,2026:1</id><updated>2026-03-03T18:30:00-05:00</updated>
    <author><name>B. Sports</name><email>b@valley.example</email></author></entry>
  <entry><title>Transfer news</title><link href="sport-1-2.html"/><id>tag:valley.example,2026:2</id>
    <published>2026-02-27T10:00:00Z</published><updated>2026-02-27T11:00:00Z</updated></entry>
</feed>
"""


def _feeds(handler: Any, path: str, query: dict[str, str]) -> None:
    shapes = {
        "/feeds/rss091.xml": (RSS091.encode("latin-1"), "text/xml"),
        "/feeds/rdf.xml": (RDF, "application/rdf+xml"),
        "/feeds/wordpress.xml": (WORDPRESS, "application/rss+xml; charset=UTF-8"),
        "/feeds/atom-base.xml": (ATOM_BASE, "application/atom+xml"),
    }
    if path in shapes:
        body, ctype = shapes[path]
        return handler.send(200, body, ctype)
    if path == "/feeds/rss.xml":
        return handler.send(200, RSS, "application/rss+xml")
    if path == "/feeds/atom.xml":
        return handler.send(200, ATOM, "application/atom+xml")
    if path == "/feeds/home.html":
        return _html(
            handler,
            '<html><head><title>Home</title><link rel="alternate" type="application/rss+xml"'
            ' href="/feeds/rss.xml"></head><body><p>Welcome</p></body></html>',
        )
    _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)


# -- a news site that changes from one day to the next (only-new crawls) --------------------

DAY = {"n": 1}  # which day the site shows; /daily/__day__?n=2 moves it on, /__reset__ back to 1


def _daily(handler: Any, path: str, query: dict[str, str]) -> None:
    """Day 1: stories a and b. Day 2: a unchanged, b updated (new text and dateModified), c new."""
    if path == "/daily/__day__":
        DAY["n"] = int(query.get("n", "1"))
        return handler.send(200, "{}", "application/json")
    day = DAY["n"]
    stories = {"a": "2026-03-01T08:00:00+00:00", "b": "2026-03-01T09:00:00+00:00"}
    if day >= 2:
        stories["c"] = "2026-03-02T07:00:00+00:00"
    if path == "/daily/feed.xml":
        items = "".join(
            f"<item><title>Story {name}</title><link>/daily/{name}.html</link>"
            f"<pubDate>{format_datetime(datetime.fromisoformat(when))}</pubDate></item>"
            for name, when in stories.items()
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Daily</title>{items}</channel></rss>'
        return handler.send(200, body, "application/rss+xml")
    name = path.removeprefix("/daily/").removesuffix(".html")
    if name not in stories:
        return _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)
    changed = name == "b" and day >= 2
    modified = "2026-03-02T10:00:00+00:00" if changed else stories[name]
    text = f"Story {name} as told on day {day if changed else 1}. " * 30
    meta = json.dumps({"@type": "NewsArticle", "headline": f"Story {name}", "datePublished": stories[name],
                       "dateModified": modified})  # fmt: skip
    _html(
        handler,
        f'<html lang="en"><head><title>Story {name} | Daily</title><script type="application/ld+json">{meta}</script>'
        f"</head><body><nav><a href='/daily/'>Home</a></nav><article><h1>Story {name}</h1><p>{text}</p></article>"
        "</body></html>",
    )


def _urlset(base: str, entries: list[tuple[str, str | None]]) -> str:
    rows = "".join(
        f"<url><loc>{base}{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>" for loc, mod in entries
    )
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>'


def _sitemaps(handler: Any, path: str, query: dict[str, str]) -> None:
    base = f"http://{handler.headers.get('Host')}"
    if path == "/sitemaps/index.xml":
        body = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{base}/sitemaps/pages.xml</loc></sitemap>"
            f"<sitemap><loc>{base}/sitemaps/news.xml.gz</loc></sitemap>"
            "</sitemapindex>"
        )
        return handler.send(200, body, "application/xml")
    if path == "/sitemaps/pages.xml":
        pages = [("/about", "2025-01-10"), ("/contact", None), ("/news/", "2026-03-01T10:00:00+00:00")]
        return handler.send(200, _urlset(base, pages), "application/xml")
    if path == "/sitemaps/news.xml.gz":
        news = [("/news/story/inland-1-1.html", "2026-03-02"), ("/news/story/sport-1-1.html", "2026-03-03")]
        return handler.send(200, gzip.compress(_urlset(base, news).encode()), "application/gzip")
    _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)


# -- JSON APIs ---------------------------------------------------------------------------------


def _api(handler: Any, path: str, query: dict[str, str]) -> None:
    if path == "/api/books":
        if handler.headers.get("Authorization") != f"Bearer {API_KEY}":
            return handler.send(401, json.dumps({"error": "missing or wrong API key"}), "application/json")
        start = int(query.get("cursor") or "0")
        page = BOOKS[start : start + 2]
        following = start + 2
        body = {"data": page, "meta": {"next_cursor": str(following) if following < len(BOOKS) else None}}
        return handler.send(200, json.dumps(body), "application/json")
    if path == "/api/numbers":
        page = int(query.get("page", "1"))
        records = [{"n": (page - 1) * 2 + i} for i in (1, 2)] if page <= 3 else []
        return handler.send(200, json.dumps({"results": records}), "application/json")
    handler.send(404, json.dumps({"error": "not found"}), "application/json")


# -- pages that need a browser ---------------------------------------------------------------


def _js(handler: Any, path: str, query: dict[str, str]) -> None:
    ident = html.escape(query.get("id", "0"))
    if path == "/js/app.html":
        script = (
            "document.addEventListener('DOMContentLoaded', function () {"
            f"  document.title = 'Rendered story {ident}';"
            "  var app = document.getElementById('app');"
            f"  app.innerHTML = '<h1>Rendered story {ident}</h1><p>' + {json.dumps(APP_TEXT)} + '</p>';"
            "});"
        )
        return _html(
            handler,
            "<html><head><title>Loading</title>"
            f'<script>{script}</script></head><body><div id="app"></div>'
            "<noscript>Please enable JavaScript.</noscript></body></html>",
        )
    if path == "/js/static.html":
        return _html(
            handler,
            f"<html><head><title>Rendered story {ident}</title><script>var ready = true;</script></head>"
            f'<body><div id="app"><h1>Rendered story {ident}</h1><p>{APP_TEXT}</p></div></body></html>',
        )
    if path == "/js/guard.html":
        target = query.get("target", "")
        via_redirect = "/redirect?to=" + quote(target, safe="")
        script = (
            "function note(id, text) { var p = document.createElement('p'); p.id = id;"
            " p.textContent = text; document.body.appendChild(p); }"
            "function attempt(id, url, options) { return fetch(url, options).then("
            " function () { note(id, 'fetched'); }, function () { note(id, 'refused'); }); }"
            "Promise.all(["
            f"  attempt('direct', {json.dumps(target)}, {{mode: 'no-cors'}}),"
            f"  attempt('redirect', {json.dumps(via_redirect)}, {{}})"
            "]).then(function () { note('done', 'done'); });"
        )
        return _html(handler, f"<html><head><title>Guard</title></head><body><script>{script}</script></body></html>")
    _html(handler, "<html><body><h1>Not found</h1></body></html>", 404)


_ROUTES = (
    ("/news/", _news),
    ("/shop/", _shop),
    ("/echo/", _echo),
    ("/feeds/", _feeds),
    ("/daily/", _daily),
    ("/sitemaps/", _sitemaps),
    ("/api/", _api),
    ("/js/", _js),
)
