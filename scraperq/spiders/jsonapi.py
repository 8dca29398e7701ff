"""The ``jsonapi`` spider: the records of a paginated JSON API.

::

    BOOKS_API_KEY=... scrapy crawl jsonapi \\
        -a url='https://api.example.org/v1/books?cursor={cursor}' \\
        -a item_path=data -a cursor_path=meta.next -a key_env=BOOKS_API_KEY

Each record the ``item_path`` finds becomes a result (the record itself, or,
for subclasses and source files with ``fields``, an item read from it with
JMESPath rules). Every page belongs to the task of the URL it started from.

Arguments (declared in ``scraperq/spiders/arguments.py``, gathered in :class:`ApiOptions`):

* ``url``: the first page. ``{page}`` and ``{cursor}`` in it are filled in; without
  them the page number or cursor is added as a query parameter.
* ``paginate``: ``page`` (numbers until a page has no records), ``cursor`` (until
  the response has no next cursor), ``next`` (a next-page URL in the response)
  or ``none``. Default: ``page`` or ``cursor`` when the URL has that placeholder,
  else ``none``.
* ``page_param`` (``page``), ``first_page`` (1), ``cursor_param`` (``cursor``),
  ``cursor_path`` (``next_cursor``), ``next_path`` (``next``), ``max_pages``.
* ``item_path``: JMESPath to the records (default: the whole response; a list
  gives one record per element).
* ``key_env``: the name of an environment variable holding an API key, sent in
  ``key_header`` (``Authorization``, as ``Bearer KEY``; another header gets the
  bare key, or set ``key_prefix``). The key is read from the environment of the
  worker that makes the request, added only at download time and only for the
  API's own host, and taken off the request after the download, so it is never
  queued in Redis, stored, or logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import jmespath
import scrapy
from scrapy.http import Response

from scraperq.arguments import ArgumentError
from scraperq.fields import FieldRule
from scraperq.items import declare_item
from scraperq.scope import host_of
from scraperq.spiders.arguments import JSONAPI, PAGINATION_MODES  # noqa: F401 - re-exported
from scraperq.spiders.base import TaskSpider

# Request meta.
API_TEMPLATE = "api_template"  # the URL template the task started from
API_PAGE = "api_page"  # 1 for the first page fetched, n for the n-th
API_CURSOR = "api_cursor"  # the cursor this page was fetched with
API_KEY_HOST = "api_key_host"  # the only host the API key is sent to


# A bad spider argument; ``name`` says which (source files report it as their field).
ArgError = ArgumentError


class NotJSON(ValueError):
    """The API answered with something that is not JSON."""


@dataclass(frozen=True)
class ApiKey:
    env: str
    header: str
    prefix: str


@dataclass(frozen=True)
class ApiOptions:
    paginate: str | None = None
    page_param: str = "page"
    first_page: int = 1
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"
    next_path: str = "next"
    item_path: str = "@"
    max_pages: int | None = None
    api_key: ApiKey | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any], *, check_env: bool = True) -> ApiOptions:
        """Options from the spider's checked arguments (``self.args``); :class:`ArgError` when the key's
        environment variable is not set (``check_env``: on the worker that needs it)."""
        defaults = cls()

        def given(name: str, default: Any) -> Any:
            value = args.get(name)
            return default if value is None else value

        return cls(
            paginate=args.get("paginate"),
            page_param=given("page_param", defaults.page_param),
            first_page=given("first_page", defaults.first_page),
            cursor_param=given("cursor_param", defaults.cursor_param),
            cursor_path=given("cursor_path", defaults.cursor_path),
            next_path=given("next_path", defaults.next_path),
            item_path=given("item_path", defaults.item_path),
            max_pages=args.get("max_pages"),
            api_key=_api_key(args, check_env=check_env),
        )

    def mode_for(self, template: str) -> str:
        if self.paginate is not None:
            return self.paginate
        if "{page}" in template:
            return "page"
        if "{cursor}" in template:
            return "cursor"
        return "none"


def _api_key(args: Mapping[str, Any], *, check_env: bool) -> ApiKey | None:
    env = args.get("key_env")
    if not env:
        return None  # key_header and key_prefix without it are refused by the declaration
    if check_env and not os.environ.get(env):
        # Only the variable's name is ever shown, never a value.
        raise ArgError("key_env", env, f"the environment variable {env} is not set")
    header = str(args.get("key_header") or "Authorization").strip()
    prefix = args.get("key_prefix")
    if prefix is None:
        prefix = "Bearer " if header.lower() == "authorization" else ""
    return ApiKey(env=env, header=header, prefix=str(prefix))


class JsonApiSpider(TaskSpider):
    name = "jsonapi"
    arguments = JSONAPI
    # Subclasses and source files: JMESPath rules per field (FieldRule(path=...)),
    # and the item class to fill (declared from the rules when None).
    fields: ClassVar[Mapping[str, FieldRule]] = {}
    item_class: type | None = None

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # At spider priority: Scrapy merges the project settings into a crawler again
        # before it starts, which would drop a change made at project priority.
        middlewares = {**settings.getdict("DOWNLOADER_MIDDLEWARES"), f"{__name__}.ApiKeyMiddleware": 780}
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority="spider")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = ApiOptions.from_args(self.args)
        self.api_key = self.options.api_key
        if self.fields and self.item_class is None:
            self.item_class = declare_item(self.name, {n: r.required for n, r in self.fields.items()})

    # -- requests --------------------------------------------------------------------

    def start_request(self, url: str, **meta: Any) -> scrapy.Request:
        meta[API_KEY_HOST] = host_of(url)  # after the payload's meta: a payload cannot redirect the key
        return self.page_request(url, page=self.options.first_page, cursor=None, number=1, meta=meta)

    def page_request(
        self, template: str, *, page: int | None, cursor: str | None, number: int, meta: dict[str, Any]
    ) -> scrapy.Request:
        mode = self.options.mode_for(template)
        url = template
        if mode == "page" and page is not None:
            url = _fill(template, "{page}", self.options.page_param, str(page))
        elif mode == "cursor":
            url = _fill(template, "{cursor}", self.options.cursor_param, cursor)
        meta = {**meta, API_TEMPLATE: template, API_PAGE: number, API_CURSOR: cursor}
        return scrapy.Request(
            url,
            callback=self.parse,
            meta=meta,
            headers={"Accept": "application/json"},
            dont_filter=number == 1,
        )

    # -- responses -------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        try:
            data = json.loads(response.body)
        except ValueError as exc:
            raise NotJSON(f"the API answered with something that is not JSON ({exc})") from None
        found = jmespath.search(self.options.item_path, data)
        records = found if isinstance(found, list) else ([] if found is None else [found])
        for record in records:
            yield self.make_item(record)
        next_request = self.next_page(response, data, has_records=bool(records))
        if next_request is not None:
            yield next_request

    def make_item(self, record: Any) -> Any:
        if self.item_class is None:
            return record if isinstance(record, dict) else {"value": record}
        values = {name: rule.extract(record) for name, rule in self.fields.items()}
        return self.item_class(**{k: v for k, v in values.items() if v is not None})

    def next_page(self, response: Response, data: Any, *, has_records: bool) -> scrapy.Request | None:
        meta = response.meta
        template, number = meta[API_TEMPLATE], int(meta[API_PAGE])
        if self.options.max_pages is not None and number >= self.options.max_pages:
            return None
        carry = {API_KEY_HOST: meta.get(API_KEY_HOST)}
        mode = self.options.mode_for(template)
        if mode == "page" and has_records:
            page = self.options.first_page + number
            return self.page_request(template, page=page, cursor=None, number=number + 1, meta=carry)
        if mode == "cursor":
            cursor = jmespath.search(self.options.cursor_path, data)
            if cursor in (None, "", False) or str(cursor) == meta.get(API_CURSOR):
                return None
            return self.page_request(template, page=None, cursor=str(cursor), number=number + 1, meta=carry)
        if mode == "next":
            next_url = jmespath.search(self.options.next_path, data)
            if not isinstance(next_url, str) or not next_url.strip():
                return None
            request = self.page_request(
                response.urljoin(next_url.strip()), page=None, cursor=None, number=number + 1, meta=carry
            )
            return request.replace(meta={**request.meta, API_TEMPLATE: template})
        return None


def _fill(template: str, placeholder: str, param: str, value: str | None) -> str:
    """The template with its placeholder filled, or with ``param=value`` set in the query."""
    if placeholder in template:
        return template.replace(placeholder, quote(value or "", safe=""))
    if value is None:
        return template
    parts = urlsplit(template)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    query.append((param, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


class ApiKeyMiddleware:
    """Adds a spider's API key to its requests at download time (see the module docstring).

    Sits close to the downloader (780): retries and redirects, further out, copy
    the request after the key has been taken off again.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> ApiKeyMiddleware:
        return cls(crawler)

    def _key(self) -> ApiKey | None:
        return getattr(self.crawler.spider, "api_key", None)

    def process_request(self, request: scrapy.Request) -> None:
        key = self._key()
        if key is None or host_of(request.url) != request.meta.get(API_KEY_HOST):
            return
        value = os.environ.get(key.env)
        if value:
            request.headers[key.header] = key.prefix + value

    def process_response(self, request: scrapy.Request, response: Response) -> Response:
        self._forget(request)
        return response

    def process_exception(self, request: scrapy.Request, exception: Exception) -> None:
        self._forget(request)

    def _forget(self, request: scrapy.Request) -> None:
        key = self._key()
        if key is not None:
            request.headers.pop(key.header, None)
