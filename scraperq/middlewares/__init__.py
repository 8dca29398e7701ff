"""Downloader and spider middlewares: SSRF guard, backoff retries, task lifecycle."""
