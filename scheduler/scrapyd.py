"""A small client for Scrapyd's JSON API: the calls the scheduler makes, each with a timeout.

Nodes come from ``SCRAPYD_NODES``: comma-separated base URLs, credentials
allowed (``http://user:pass@host:6800``), and an optional capacity in the
fragment (``http://host:6800#capacity=8``; fragments never leave this process)
that overrides ``SCRAPYD_NODE_CAPACITY``. A node is named by its URL without
credentials; credentials travel only in the Authorization header and are never
logged or stored.

Scrapyd reports errors with HTTP 200 and ``{"status": "error"}``: every answer's
``status`` is checked, and any failure (refused, timed out, HTTP error, error
status, unreadable answer) is a :class:`NodeError` with a one-line reason.

Calls keep their HTTP connection open (one per node and thread), so a burst of
``schedule.json`` calls pays no connection set-up; a connection idle for more
than a few seconds is not reused (a server may have dropped it meanwhile, and a
request sent on a dropped connection could not be told from one that was acted
on). Nodes are reached directly, never through an ``http_proxy`` of the
environment: their URLs carry credentials.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit, urlunsplit

from scraperq.errors import ConfigError
from scraperq.redact import ENCODE_ADVICE, misplaced_credentials, redact_url

logger = logging.getLogger(__name__)

# Scrapyd job states, as listjobs.json groups them.
PENDING, RUNNING, FINISHED = "pending", "running", "finished"


class NodeError(Exception):
    """A Scrapyd node did not do what was asked; the message is one line, without credentials."""

    def __init__(self, message: str, *, uncertain: bool = False, http_status: int | None = None) -> None:
        super().__init__(message)
        # The node's HTTP status when it answered with an error (404: no such log file).
        self.http_status = http_status
        # The request reached the node but no answer came back (a timeout, a dropped
        # connection): the node may have carried it out.
        self.uncertain = uncertain


@dataclass(frozen=True)
class Node:
    name: str  # base URL without credentials: what logs and job_runs.node show
    capacity: int
    authorization: str | None = field(default=None, repr=False, compare=False)

    def url(self, path: str) -> str:
        return urljoin(self.name.rstrip("/") + "/", path.lstrip("/"))


def parse_nodes(value: str, *, default_capacity: int) -> list[Node]:
    """``SCRAPYD_NODES`` as nodes; :class:`ConfigError` naming the bad entry (without its password)."""
    nodes: list[Node] = []
    for raw in (part.strip() for part in (value or "").split(",")):
        if not raw:
            continue
        shown = redact_url(raw)
        if misplaced_credentials(raw):
            raise ConfigError(f"SCRAPYD_NODES entry {shown!r} cannot be read: {ENCODE_ADVICE}")
        try:
            parts = urlsplit(raw)
        except ValueError:  # a '[' or ']' in a password
            raise ConfigError(f"SCRAPYD_NODES entry {shown!r} cannot be read: {ENCODE_ADVICE}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"SCRAPYD_NODES entry {shown!r} is not an http(s) URL")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"SCRAPYD_NODES entry {shown!r} has an invalid port") from None
        capacity = default_capacity
        if parts.fragment:
            values = parse_qs(parts.fragment).get("capacity")
            if not values or not values[0].isdigit() or int(values[0]) < 1:
                raise ConfigError(f"SCRAPYD_NODES entry {shown!r}: write the capacity as #capacity=N with N >= 1")
            capacity = int(values[0])
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{port}" if port else host
        name = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        if any(n.name == name for n in nodes):
            raise ConfigError(f"SCRAPYD_NODES names {name} twice")
        nodes.append(Node(name=name, capacity=max(1, capacity), authorization=authorization))
    if not nodes:
        raise ConfigError("SCRAPYD_NODES names no Scrapyd node")
    return nodes


@dataclass(frozen=True)
class JobListing:
    """listjobs.json of one node: job id -> (state, the job's entry)."""

    jobs: Mapping[str, tuple[str, dict[str, Any]]]

    def state(self, job_id: str) -> str | None:
        found = self.jobs.get(job_id)
        return found[0] if found else None

    def entry(self, job_id: str) -> dict[str, Any]:
        found = self.jobs.get(job_id)
        return found[1] if found else {}


@dataclass(frozen=True)
class NodeStatus:
    node: Node
    running: int = 0
    pending: int = 0
    error: str | None = None
    # It answers, but the project is not deployed there: no job can be sent to it.
    lacks_project: bool = False

    @property
    def up(self) -> bool:
        return self.error is None

    @property
    def state(self) -> str:
        return "up" if self.up else "no project" if self.lacks_project else "down"

    @property
    def load(self) -> float:
        return (self.running + self.pending) / self.node.capacity


# A kept connection idle longer than this is closed rather than reused.
_REUSE_WITHIN = 5.0


class _Connections(threading.local):
    def __init__(self) -> None:
        self.open: dict[str, tuple[http.client.HTTPConnection, float]] = {}


class ScrapydClient:
    def __init__(self, *, project: str, timeout: float) -> None:
        self.project = project
        self.timeout = timeout
        self._connections = _Connections()

    # -- the calls ------------------------------------------------------------------

    def daemon_status(self, node: Node) -> NodeStatus:
        """Its load; a node that answers but does not have the project is not up (``lacks_project``)."""
        data = self._call(node, "daemonstatus.json")
        status = NodeStatus(node, running=int(data.get("running", 0)), pending=int(data.get("pending", 0)))
        projects = self._call(node, "listprojects.json").get("projects") or []
        if self.project not in projects:
            error = f"{node.name} answers, but project {self.project!r} is not deployed there (scrapyd-deploy)"
            return NodeStatus(node, status.running, status.pending, error=error, lacks_project=True)
        return status

    def schedule(
        self,
        node: Node,
        *,
        spider: str,
        job_id: str,
        args: Mapping[str, str],
        settings: Mapping[str, str],
    ) -> str:
        """schedule.json: spider arguments as form fields, settings as repeated ``setting=K=V``."""
        form: list[tuple[str, str]] = [("project", self.project), ("spider", spider), ("jobid", job_id)]
        form += [("setting", f"{key}={value}") for key, value in settings.items()]
        form += [(key, str(value)) for key, value in args.items()]
        data = self._call(node, "schedule.json", form=form)
        accepted = str(data.get("jobid", ""))
        if accepted != job_id:
            raise NodeError(f"{node.name} answered schedule.json with job id {accepted!r}, not {job_id!r}")
        return accepted

    def list_jobs(self, node: Node) -> JobListing:
        data = self._call(node, "listjobs.json", query={"project": self.project})
        jobs: dict[str, tuple[str, dict[str, Any]]] = {}
        for state in (FINISHED, RUNNING, PENDING):  # a later state wins if a job shows twice
            for entry in data.get(state) or []:
                if isinstance(entry, dict) and "id" in entry:
                    jobs[str(entry["id"])] = (state, entry)
        return JobListing(jobs)

    def list_spiders(self, node: Node) -> list[str]:
        data = self._call(node, "listspiders.json", query={"project": self.project})
        return [str(name) for name in data.get("spiders") or []]

    def cancel(self, node: Node, job_id: str) -> str | None:
        data = self._call(node, "cancel.json", form=[("project", self.project), ("job", job_id)])
        return data.get("prevstate")

    def log_tail(self, node: Node, log_url: str, *, max_bytes: int = 65536) -> str:
        """The end of a job's log (see :meth:`log_tail_sized`)."""
        return self.log_tail_sized(node, log_url, max_bytes=max_bytes)[0]

    def log_tail_sized(self, node: Node, log_url: str, *, max_bytes: int = 65536) -> tuple[str, int]:
        """The end of a job's log and the log's whole size in bytes. Scrapyd serves logs as static files,
        which honour Range; the size is asked first because Twisted fails (HTTP 500) on a suffix range
        longer than the file."""
        path = urlsplit(node.url(log_url)).path
        headers, _ = self._send(node, "HEAD", path)
        size = int(headers.get("Content-Length") or 0)
        ranged = {"Range": f"bytes={size - max_bytes}-"} if size > max_bytes else {}
        _, body = self._send(node, "GET", path, headers=ranged)
        return body.decode("utf-8", "replace"), size

    # -- transport ------------------------------------------------------------------

    def _call(
        self,
        node: Node,
        endpoint: str,
        *,
        form: list[tuple[str, str]] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        path = urlsplit(node.url(endpoint)).path + ("?" + urlencode(query) if query else "")
        if form is not None:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            _, raw = self._send(node, "POST", path, body=urlencode(form).encode(), headers=headers)
        else:
            _, raw = self._send(node, "GET", path)
        try:
            data = json.loads(raw)
        except ValueError:
            raise NodeError(f"{node.name} answered {endpoint} with something other than JSON") from None
        if not isinstance(data, dict):
            raise NodeError(f"{node.name} answered {endpoint} with unexpected JSON")
        if data.get("status") != "ok":
            message = " ".join(str(data.get("message") or "no message").split())
            raise NodeError(f"{node.name} refused {endpoint}: {message[:300]}")
        return data

    def _send(
        self,
        node: Node,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Message, bytes]:
        endpoint = path.split("?", 1)[0].rsplit("/", 1)[-1]
        request_headers = dict(headers or {})
        if node.authorization:
            request_headers["Authorization"] = node.authorization
        connection = self._connection(node)
        try:
            connection.request(method, path, body=body, headers=request_headers)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:  # sent, but no answer in time
            connection.close()
            raise NodeError(
                f"{node.name} did not answer {endpoint} within {self.timeout:g} s", uncertain=True
            ) from None
        except (ConnectionResetError, BrokenPipeError, http.client.HTTPException) as exc:  # dropped mid-answer
            connection.close()
            raise NodeError(f"{node.name} dropped the connection during {endpoint}: {exc}", uncertain=True) from None
        except OSError as exc:
            connection.close()
            raise NodeError(f"{node.name} failed during {endpoint}: {exc.strerror or exc}") from None
        if response.will_close:
            connection.close()
        else:
            self._connections.open[node.name] = (connection, time.monotonic())
        if response.status >= 400:
            hint = ": check the credentials in SCRAPYD_NODES" if response.status == 401 else ""
            message = f"{node.name} answered {endpoint} with HTTP {response.status}{hint}"
            raise NodeError(message, http_status=response.status)
        return response.headers, data

    def _connection(self, node: Node) -> http.client.HTTPConnection:
        """This thread's open connection to the node, or a new one; a refused connection is a NodeError
        that is certain: nothing was sent."""
        kept = self._connections.open.pop(node.name, None)
        if kept is not None:
            connection, last_used = kept
            if time.monotonic() - last_used <= _REUSE_WITHIN and connection.sock is not None:
                return connection
            connection.close()
        parts = urlsplit(node.name)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            connection.connect()
        except TimeoutError:
            raise NodeError(f"{node.name} is unreachable: no connection within {self.timeout:g} s") from None
        except OSError as exc:
            text = exc.strerror or (str(exc.args[0]) if exc.args else type(exc).__name__)
            if isinstance(exc, socket.gaierror):
                text = f"cannot resolve its host: {text}"
            raise NodeError(f"{node.name} is unreachable: {text}") from None
        return connection

    def close(self) -> None:
        """Close this thread's kept connections."""
        for connection, _ in self._connections.open.values():
            connection.close()
        self._connections.open.clear()
