"""What the generic spider extracts from a page."""

from __future__ import annotations

from typing import Any

from scrapy.http import Response, TextResponse


def extract_page(response: TextResponse) -> dict[str, Any]:
    links = [response.urljoin(h) for h in response.css("a::attr(href)").getall()]
    return {
        "url": response.url,
        "status": response.status,
        "title": (response.css("title::text").get() or "").strip(),
        "links": links,
    }


def non_html_result(response: Response) -> dict[str, Any]:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1")
    return {"url": response.url, "status": response.status, "content_type": ctype, "size": len(response.body)}
