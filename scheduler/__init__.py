"""The scheduler daemon: cron and interval schedules, dispatched to Scrapyd nodes exactly once.

It reaches the crawl side only through ``scraperq.storage`` (schedules, job runs,
task and result counts), payload validation and URL submission
(``scraperq.payloads``, ``scraperq.submit``) and the spiders' argument
declarations (``scraperq.spiders.arguments``), none of which loads Scrapy or
Twisted; the crawl side never imports this package, and the egg deployed to
Scrapyd leaves it out. Its commands join the ``scraperq`` CLI through entry
points (``scheduler.cli``). Modules, one concern each:

* :mod:`~scheduler.app`: composition root (``scraperq scheduler`` runs it);
* :mod:`~scheduler.config`, :mod:`~scheduler.settings`: the settings it reads, and how, without Scrapy;
* :mod:`~scheduler.service`: schedule operations and their checks, for the CLI and the API alike;
* :mod:`~scheduler.cli`: ``scraperq schedule ...`` and ``scraperq scheduler``;
* :mod:`~scheduler.daemon`: the loop, and why it is not an APScheduler scheduler;
* :mod:`~scheduler.cron`, :mod:`~scheduler.triggers`: fire times, cron as cron means it, DST included;
* :mod:`~scheduler.firing`: per fire time, run, skip (overlap) or record missed;
* :mod:`~scheduler.dispatch`, :mod:`~scheduler.nodes`, :mod:`~scheduler.scrapyd`:
  least-loaded node, fail-over, Scrapyd's JSON API;
* :mod:`~scheduler.tracker`, :mod:`~scheduler.recovery`: following jobs to their end (the crawl's
  own heartbeat first, Scrapyd's word otherwise), settling runs a dead daemon left unconfirmed;
* :mod:`~scheduler.leader`: one leader among daemons (PostgreSQL advisory lock);
* :mod:`~scheduler.alerts`: events for a webhook and Slack (failed runs, failing or empty schedules,
  nodes down and up, dead letters), recorded once and delivered with retries by the leader.
"""
