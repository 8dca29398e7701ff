"""Which Scrapyd node gets the next job: the least loaded one that is up.

Load is ``(running + pending) / capacity`` from each node's ``daemonstatus.json``
and its capacity (``SCRAPYD_NODE_CAPACITY`` or ``#capacity=N`` on its URL, normally
its ``max_proc``). The nodes are asked together, at most once per ``max_age``
seconds; a dispatch made since then counts as one more pending job on its node,
so a burst of fire times spreads out instead of piling onto the node that looked
idlest. Nodes that did not answer go last rather than nowhere: the answer may be
stale, and the dispatcher fails over anyway; they are asked again after
``down_retry`` seconds, so a node that hangs costs a timeout now and then rather
than on every dispatch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from scheduler.scrapyd import Node, NodeError, NodeStatus, ScrapydClient

logger = logging.getLogger(__name__)

T = TypeVar("T")


class NodePool:
    def __init__(
        self,
        nodes: Sequence[Node],
        client: ScrapydClient,
        *,
        max_age: float = 1.0,
        down_retry: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nodes = list(nodes)
        self.client = client
        self.max_age = max_age
        self.down_retry = down_retry
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._statuses: dict[str, NodeStatus] = {}
        self._taken_at: float | None = None
        self._down_until: dict[str, float] = {}  # a node that failed is not asked again before then
        self._turn = 0
        self._was_down: set[str] = set()

    def by_name(self, name: str | None) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def statuses(self, *, refresh: bool = False) -> list[NodeStatus]:
        """Every node's status, asked again when older than ``max_age``. A node that failed is left
        down for ``down_retry`` seconds, so a hung node costs one timeout now and then, not each time."""
        with self._lock:
            now = self._monotonic()
            if refresh or self._taken_at is None or now - self._taken_at >= self.max_age:
                due = [n for n in self.nodes if refresh or self._down_until.get(n.name, 0.0) <= now]
                for status in ask_all(due, self._status_of):
                    self._statuses[status.node.name] = status
                    if status.up:
                        self._down_until.pop(status.node.name, None)
                    else:
                        self._down_until[status.node.name] = self._monotonic() + self.down_retry
                self._taken_at = self._monotonic()
                self._log_changes()
            return [self._statuses.get(n.name) or NodeStatus(n, error="not asked yet") for n in self.nodes]

    def ranked(self) -> list[Node]:
        """Nodes in the order to try them: up ones by load (ties taken in turn), then the rest."""
        statuses = self.statuses()
        count = len(self.nodes)
        with self._lock:
            turn = self._turn
            self._turn += 1
        order = {n.name: i for i, n in enumerate(self.nodes)}

        def key(status: NodeStatus) -> tuple[bool, float, int]:
            return (not status.up, status.load, (order[status.node.name] - turn) % count)

        return [s.node for s in sorted(statuses, key=key)]

    def note_dispatched(self, node: Node) -> None:
        with self._lock:
            status = self._statuses.get(node.name)
            if status is not None:
                self._statuses[node.name] = replace(status, pending=status.pending + 1, error=None)

    def note_failed(self, node: Node, error: str) -> None:
        with self._lock:
            status = self._statuses.get(node.name, NodeStatus(node))
            self._statuses[node.name] = replace(status, error=error)
            self._down_until[node.name] = self._monotonic() + self.down_retry

    def check_project(self) -> None:
        """Say which nodes lack the project, once, at start-up. Asking also fills Scrapyd's cache of
        the project's spiders, which its first schedule.json would otherwise build (a subprocess)."""

        def check(node: Node) -> None:
            try:
                spiders = self.client.list_spiders(node)
            except NodeError as exc:
                logger.warning("Cannot use %s yet: %s", node.name, exc)
                return
            logger.info("%s has project %s with %d spiders", node.name, self.client.project, len(spiders))

        ask_all(self.nodes, check)

    def _status_of(self, node: Node) -> NodeStatus:
        try:
            return self.client.daemon_status(node)
        except NodeError as exc:
            return NodeStatus(node, error=str(exc))

    def _log_changes(self) -> None:
        for status in self._statuses.values():
            name = status.node.name
            if not status.up and name not in self._was_down:
                self._was_down.add(name)
                logger.warning("Scrapyd node is %s: %s", status.state, status.error)
            elif status.up and name in self._was_down:
                self._was_down.discard(name)
                logger.info("Scrapyd node %s is back", name)


def ask_all(nodes: Sequence[Node], call: Callable[[Node], T]) -> list[T]:
    """``call`` on every node at once (each call has its own timeout); results in node order."""
    if len(nodes) <= 1:
        return [call(n) for n in nodes]
    with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="scrapyd") as pool:
        return list(pool.map(call, nodes))
