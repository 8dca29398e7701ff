"""scraperq's spiders: the generic spider and per-source spiders."""
