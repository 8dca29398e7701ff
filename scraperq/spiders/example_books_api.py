"""An example JSON API spider: a bookstore's bestseller list behind an API key.

Cursor pagination, records under ``data``, the key in ``EXAMPLE_BOOKS_API_KEY``
(sent as ``Authorization: Bearer ...`` to the API's host only, never logged)::

    EXAMPLE_BOOKS_API_KEY=... scrapy crawl example_books_api -a url=http://127.0.0.1:8000/api/books
"""

from __future__ import annotations

from scraperq.fields import path
from scraperq.spiders.jsonapi import JsonApiSpider


class ExampleBooksApiSpider(JsonApiSpider):
    name = "example_books_api"
    start_urls = ["https://api.example.org/v1/books"]
    default_args = {
        "paginate": "cursor",
        "item_path": "data",
        "cursor_path": "meta.next_cursor",
        "key_env": "EXAMPLE_BOOKS_API_KEY",
    }
    # Declared fields: a record without an id or a title is refused and counted on its task.
    fields = {
        "id": path("id", required=True),
        "title": path("title", required=True),
        "author": path("author.name"),
        "rank": path("rank"),
    }
