"""Declarative per-source spiders: one YAML file per source, loaded as a spider of its own.

The files in this folder ship with the package (and so in the egg deployed to
Scrapyd); ``SCRAPERQ_SOURCES_DIR`` adds folders of your own. README.md in this
folder documents the format. :mod:`scraperq.sources.loader` is the spider loader
that finds them, :mod:`scraperq.sources.schema` checks and builds each one.
"""
