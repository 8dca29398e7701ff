"""The scheduler daemon: cron and interval schedules, dispatched to Scrapyd nodes exactly once.

It reaches the crawl side only through ``scraperq.storage`` (schedules, job runs,
task and result counts); the crawl side never imports this package, and the egg
deployed to Scrapyd leaves it out. Modules, one concern each:

* :mod:`~scheduler.app`: composition root (``scraperq scheduler`` runs it);
* :mod:`~scheduler.config`: the settings it reads;
* :mod:`~scheduler.daemon`: the loop, and why it is not an APScheduler scheduler;
* :mod:`~scheduler.cron`, :mod:`~scheduler.triggers`: fire times, cron as cron means it, DST included;
* :mod:`~scheduler.firing`: per fire time, run, skip (overlap) or record missed;
* :mod:`~scheduler.dispatch`, :mod:`~scheduler.nodes`, :mod:`~scheduler.scrapyd`:
  least-loaded node, fail-over, Scrapyd's JSON API;
* :mod:`~scheduler.tracker`, :mod:`~scheduler.recovery`: following jobs to their end,
  settling runs a dead daemon left unconfirmed;
* :mod:`~scheduler.leader`: one leader among daemons (PostgreSQL advisory lock).
"""
