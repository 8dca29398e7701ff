"""Page bodies served by the mock server."""

from __future__ import annotations

import zlib

ARTICLE = """<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>  River levels rise in the valley  </title>
  <meta name="description" content="Heavy rain pushed the river to its highest level in a decade.">
  <link rel="canonical" href="/article">
  <meta property="og:title" content="River levels rise">
  <meta property="og:type" content="article">
  <meta property="og:image" content="/images/river.jpg">
  <script type="application/ld+json">
  {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "River levels rise",
   "author": {"@type": "Person", "name": "A. Writer"}}
  </script>
  <script type="application/ld+json">not json at all {</script>
  <style>body { color: red; }</style>
</head>
<body>
  <header><nav><a href="/">Home</a> <a href="/site/1.html">Sections</a></nav></header>
  <main>
    <article>
      <h1>River levels rise in the valley</h1>
      <p>Heavy   rain over the weekend pushed the river
         to its highest level in a decade.</p>
      <h2>What happens next</h2>
      <p>Officials expect the water to recede by Thursday.</p>
      <script>var tracking = "should not appear";</script>
      <a href="/site/2.html">Related story</a>
      <a href="https://elsewhere.example.org/page">Elsewhere</a>
      <a href="mailto:news@example.org">Write to us</a>
    </article>
  </main>
  <footer>Copyright footer text that is boilerplate</footer>
</body>
</html>
"""


def simple_page(title: str, body: str = "") -> str:
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body or title}</p></body></html>"


def site_page(path: str, query: dict[str, str]) -> str:
    """Page N of a tree site of P pages: N links to 2N+1 and 2N+2 (and home); with ``fan=K``,
    to the K pages K*N+1 to K*N+K (a wide site: a crawl of it queues many pages at once)."""
    total = int(query.get("pages", "15"))
    fan = int(query.get("fan", "2"))
    suffix = f"?pages={total}" if "pages" in query else ""
    if "fan" in query:
        suffix += f"{'&' if suffix else '?'}fan={fan}"
    if path == "/":
        n = 0
    else:
        try:
            n = int(path.rsplit("/", 1)[1].split(".")[0])
        except ValueError:
            n = 0
    links = [
        f'<a href="/site/{c}.html{suffix}">Page {c}</a>' for c in range(fan * n + 1, fan * n + fan + 1) if c < total
    ]
    links.append(f'<a href="/site/0.html{suffix}">Home</a>')
    body = f"<p>This is page {n} of the test site, with some words to extract.</p>" + " ".join(links)
    return f"<html lang='en'><head><title>Page {n}</title></head><body><h1>Page {n}</h1>{body}</body></html>"


def links_page(base: str) -> str:
    host = base.split("//", 1)[1].split(":")[0]
    port = base.rsplit(":", 1)[1] if base.count(":") > 1 else "80"
    other = f"http://localhost:{port}" if host != "localhost" else f"http://127.0.0.1:{port}"
    return (
        "<html><head><title>Links</title></head><body>"
        '<a href="/site/1.html">same host</a>'
        '<a href="/site/2.html?x=keep">same host, allowed by regex</a>'
        f'<a href="{other}/site/3.html">other host</a>'
        '<a href="ftp://example.org/file">ftp</a>'
        "</body></html>"
    )


def scope_page(host: str, path: str) -> str:
    """Links to sub-domains and look-alike domains; reached through the server as an HTTP proxy."""
    targets = [
        "/scope/same-host",
        "http://shop.example.co.uk/scope/sub-domain",
        "http://other.co.uk/scope/other-domain",
        "http://www.example.com/scope/other-suffix",
    ]
    links = "".join(f'<a href="{t}">{t}</a>' for t in targets)
    return f"<html><head><title>{host}{path}</title></head><body>{links}</body></html>"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = b"\x89PNG\r\n\x1a\n"
    ihdr = chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
    idat = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return header + ihdr + idat + chunk(b"IEND", b"")


PNG_BYTES = _png()
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
