"""scraperq: a scraping job system built on Scrapy, scrapy-redis, PostgreSQL and Scrapyd."""

__version__ = "0.1.0"
