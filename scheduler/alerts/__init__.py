"""Alerts: the leading daemon tells a webhook (and Slack) when something needs a person.

Events (:mod:`~scheduler.alerts.events`): a job run failed (lost runs and the
maintenance run included), a schedule failed N times in a row or stored
nothing, a Scrapyd node went down or came back, a spider's dead letters reached
a threshold. Each is recorded once in the database (``scraperq.storage.alerts``)
whichever daemon sees it and however often, with a delivery per destination
that a courier thread sends, retries with backoff and records.

* :mod:`~scheduler.alerts.config`: the settings, and webhook URLs as logs may show them;
* :mod:`~scheduler.alerts.events`: event types, ids and the JSON body (README: Alerts);
* :mod:`~scheduler.alerts.watch`: finding events in job runs, node statuses and Redis;
* :mod:`~scheduler.alerts.delivery`: sending them, with a deadline per call and retries;
* :mod:`~scheduler.alerts.service`: the threads, started and stopped with the daemon.
"""

from scheduler.alerts.config import AlertConfig
from scheduler.alerts.service import Alerts

__all__ = ["AlertConfig", "Alerts"]
