"""An example per-source spider: a news site crawled by category.

The shape of a typical daily news crawl: three section pages, a few listing
pages each, one story per headline. Point it at a copy of the site with
``-a base_url=...`` and at one section with ``-a category=Sport``::

    scrapy crawl example_news -a base_url=http://127.0.0.1:8000/news/ -a max_pages=2
"""

from __future__ import annotations

from scrapy.linkextractors import LinkExtractor

from scraperq.fields import css
from scraperq.items import Article
from scraperq.spiders.source import SourceSpider


class ExampleNewsSpider(SourceSpider):
    name = "example_news"
    base_url = "https://news.example.org/"
    # The site's section names -> their listing pages, and -> our categories.
    categories = {"Inland": "inland/", "Sport": "sport/", "Kultur": "kultur/"}
    category_map = {"Inland": "national", "Sport": "sports", "Kultur": "culture"}
    item_links = LinkExtractor(restrict_css="h2.headline")
    pagination = LinkExtractor(restrict_css="a[rel=next]")
    max_pages = 5
    item_class = Article
    fields = {
        "title": css("article h1"),
        "category": css(".crumbs a.section"),
        "published": css("article time::attr(datetime)"),
        "author": css("article .author"),
        "summary": css("article p.lead"),
        "body": css("article .body p", many=True, join="\n\n"),
    }
    custom_settings = {"DOWNLOAD_DELAY": 0.5}
