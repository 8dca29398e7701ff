"""Components that raise where a page's request asks them to (``?raise=WHERE``), for tests/test_hostile.py.

Enabled only by the tests, through the ``DOWNLOADER_MIDDLEWARES``, ``SPIDER_MIDDLEWARES`` and
``ITEM_PIPELINES`` settings of the crawl they start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit


def wants(url: str, where: str) -> bool:
    return where in parse_qs(urlsplit(url).query).get("raise", [])


class RaisingDownloaderMiddleware:
    def process_request(self, request: Any) -> None:
        if wants(request.url, "dl-request"):
            raise RuntimeError("boom in process_request")

    def process_response(self, request: Any, response: Any) -> Any:
        if wants(request.url, "dl-response"):
            raise RuntimeError("boom in process_response")
        return response


class RaisingSpiderMiddleware:
    def process_spider_input(self, response: Any) -> None:
        if wants(response.url, "sp-input"):
            raise RuntimeError("boom in process_spider_input")

    def process_spider_output(self, response: Any, result: Any) -> Any:
        for obj in result:
            if wants(response.url, "sp-output"):
                raise RuntimeError("boom in process_spider_output")
            yield obj

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        async for obj in result:
            if wants(response.url, "sp-output"):
                raise RuntimeError("boom in process_spider_output")
            yield obj


class RaisingPipeline:
    def process_item(self, item: Any) -> Any:
        if wants(str(item.get("url", "")), "pipeline"):
            raise RuntimeError("boom in process_item")
        return item
