"""A local HTTP server for the crawl tests and benchmarks (never the internet).

Run as ``python -m tests.mockserver [--port 0]``: it binds 127.0.0.1, prints
its base URL on the first line of stdout and serves until killed. Routes:

``/site/N.html?pages=P``  a linked site of P pages (page N links to 2N+1, 2N+2; ``&fan=K``: KN+1..KN+K)
``/article``              a rich article page (meta, OpenGraph, JSON-LD, boilerplate)
``/links``                same-host, other-host and sub-domain links for scope tests
``/redirect?to=PATH``     302 to PATH
``/status/CODE``          an empty response with that status
``/flaky/KEY?fail=N&code=C``  C for the first N hits of KEY, then a page
``/retry-after/KEY?after=S``  429 with ``Retry-After: S`` on the first hit, then a page
``/slow?delay=S``         a page after S seconds
``/file.pdf`` ``/image.png`` ``/data.json``  non-HTML bodies
``/scope``, ``/scope/*``    links to sub-domains and other registrable domains; used with the
                          server as the crawl's HTTP proxy, so any host name reaches it
``/news/`` ``/shop/`` ``/echo/`` ``/feeds/`` ``/sitemaps/`` ``/api/`` ``/js/``  fixture sites of the
                          per-source, feed, sitemap, JSON API and rendering tests (sources.py)
``/hostile/CASE``          responses a crawler must survive: ``location?to=URL`` (a redirect taken as
                          it is), ``endless``, ``loop-a``/``loop-b``, ``big``/``chunked``/``gzip-bomb``
                          ``?size=N``, ``stall?delay=S`` (half a body, then silence), ``links?to=P,P``
``/__hits__``             JSON: how many times each path (with query) was requested
``/__log__``              JSON: ``[path, server monotonic seconds]`` for each request, in order
``/__reset__``            forget hit counts and flaky state
"""
