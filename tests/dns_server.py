"""A DNS server on loopback for tests: names answer what the test says, query after query.

It speaks real DNS over UDP (messages encoded and decoded by twisted.names), so a
crawler pointed at it with ``SCRAPERQ_DNS_SERVERS`` resolves exactly as it would
against any DNS server. Each name has a list of answers per record type; the
n-th query gets the n-th answer and the last one repeats, which is how a
rebinding attacker answers (a harmless address first, then the target).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from twisted.names import dns

Answers = dict[str, dict[str, list[list[str]]]]  # name -> "A"/"AAAA" -> answers, one per query


class DNSServer:
    def __init__(self, answers: Answers) -> None:
        self.answers = {name.lower(): kinds for name, kinds in answers.items()}
        self.queries: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def count(self, name: str, kind: str) -> int:
        with self._lock:
            return self.queries[(name.lower(), kind)]

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                data, client = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            self._socket.sendto(self._reply(data), client)

    def _reply(self, data: bytes) -> bytes:
        query = dns.Message()
        query.fromStr(data)
        reply = dns.Message(id=query.id, answer=1, opCode=query.opCode, recDes=query.recDes, recAv=1)
        reply.queries = query.queries
        question = query.queries[0]
        name = question.name.name.decode("ascii").rstrip(".").lower()
        kind = {dns.A: "A", dns.AAAA: "AAAA"}.get(question.type, "other")
        if name not in self.answers:
            reply.rCode = dns.ENAME
            return reply.toStr()
        with self._lock:
            self.queries[(name, kind)] += 1
            seen = self.queries[(name, kind)]
        answers = self.answers[name].get(kind) or [[]]
        for address in answers[min(seen, len(answers)) - 1]:
            record = dns.Record_A(address, ttl=0) if kind == "A" else dns.Record_AAAA(address, ttl=0)
            reply.answers.append(dns.RRHeader(name=question.name.name, type=question.type, ttl=0, payload=record))
        return reply.toStr()


@contextmanager
def dns_server(answers: Answers) -> Iterator[DNSServer]:
    server = DNSServer(answers)
    try:
        yield server
    finally:
        server.stop()
