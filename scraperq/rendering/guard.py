"""The SSRF rules for the browser: a SOCKS5 gate every browser connection goes through.

Requests a rendered page makes by itself (scripts, frames, images, and the
redirects they follow) never pass Scrapy's downloader middlewares, so
SSRFGuardMiddleware cannot see them. Playwright's request routing cannot either:
it is not consulted for the hops of a redirect, so an allowed URL that redirects
to ``http://10.0.0.5/`` would be fetched. A proxy sees every connection, hops
included. Chromium is launched with this gate as its SOCKS5 proxy (Playwright
also sends loopback through it); the gate resolves each host itself, IPv4 and
IPv6, applies :func:`scraperq.addresses.check_addresses` (the rules every
request meets) to every address the name has, and connects to an address it
checked, so DNS cannot change the answer between the check and the connection.
Names are looked up as the downloader looks them up, through the crawl's
:class:`~scraperq.resolver.GuardedResolver` (``SCRAPERQ_DNS_SERVERS``, the DNS
cache, ``localhost``) when one is installed, else with ``getaddrinfo``.

It listens on 127.0.0.1 only, on a port picked at start-up, and speaks just the
part of SOCKS5 Chromium uses: no authentication, CONNECT only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable

from scraperq.addresses import IPAddress, IPNetwork, check_addresses
from scraperq.resolver import LookupFailed, installed_resolver, system_addresses

logger = logging.getLogger(__name__)

_VERSION = 5
_NO_AUTH = 0
_NO_ACCEPTABLE_METHOD = 0xFF
_CONNECT = 1
_ADDR_IPV4, _ADDR_NAME, _ADDR_IPV6 = 1, 3, 4
# Reply codes (RFC 1928, section 6).
_SUCCEEDED = 0
_GENERAL_FAILURE = 1
_NOT_ALLOWED = 2
_HOST_UNREACHABLE = 4
_CONNECTION_REFUSED = 5
_COMMAND_NOT_SUPPORTED = 7
_CHUNK = 64 * 1024


class Refused(Exception):
    def __init__(self, reply: int, reason: str) -> None:
        super().__init__(reason)
        self.reply = reply


class BrowserGuard:
    def __init__(
        self,
        allow: bool | tuple[IPNetwork, ...],
        *,
        connect_timeout: float = 10.0,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        self.allow = allow
        self.connect_timeout = connect_timeout
        self.on_refused = on_refused
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def proxy_url(self) -> str:
        assert self._server is not None, "start() first"
        port = self._server.sockets[0].getsockname()[1]
        return f"socks5://127.0.0.1:{port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self.proxy_url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def check(self, host: str, port: int) -> str:
        """The address to connect to for ``host``, or :class:`Refused` saying why not."""
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = await _lookup(host)
        # Every address the name has must pass: the browser must not get to pick a private one.
        problem = check_addresses(addresses, self.allow)
        if problem is not None:
            raise Refused(_NOT_ALLOWED, problem)
        return str(addresses[0])

    # -- one browser connection ------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            host, port = await self._handshake(reader, writer)
            try:
                address = await self.check(host, port)
                up_reader, upstream = await self._connect(address, port)
            except Refused as refused:
                if refused.reply == _NOT_ALLOWED:
                    logger.warning("Refused a browser connection to %s:%s: %s", host, port, refused)
                    if self.on_refused is not None:
                        self.on_refused(host, str(refused))
                await self._reply(writer, refused.reply)
                return
            await self._reply(writer, _SUCCEEDED)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, Refused):
            pass  # the browser hung up or spoke something else; its request fails, which is the point
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != _VERSION or _NO_AUTH not in methods:
            writer.write(bytes((_VERSION, _NO_ACCEPTABLE_METHOD)))
            await writer.drain()
            raise Refused(_GENERAL_FAILURE, "not a SOCKS5 client without authentication")
        writer.write(bytes((_VERSION, _NO_AUTH)))
        await writer.drain()
        version, command, _reserved, kind = await reader.readexactly(4)
        if kind == _ADDR_IPV4:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == _ADDR_IPV6:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        elif kind == _ADDR_NAME:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode("idna")
        else:
            await self._reply(writer, _GENERAL_FAILURE)
            raise Refused(_GENERAL_FAILURE, f"unknown address type {kind}")
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != _CONNECT:
            await self._reply(writer, _COMMAND_NOT_SUPPORTED)
            raise Refused(_COMMAND_NOT_SUPPORTED, f"SOCKS command {command} is not supported")
        return host, port

    async def _connect(self, address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), self.connect_timeout)
        except TimeoutError:
            raise Refused(_HOST_UNREACHABLE, f"timed out connecting to {address}:{port}") from None
        except ConnectionRefusedError:
            raise Refused(_CONNECTION_REFUSED, f"connection refused by {address}:{port}") from None
        except OSError as exc:
            raise Refused(_HOST_UNREACHABLE, f"could not connect to {address}:{port}: {exc.strerror}") from None

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
        # The bound address is not used by Chromium; 0.0.0.0:0 is the usual filler.
        writer.write(bytes((_VERSION, code, 0, _ADDR_IPV4)) + bytes(6))
        await writer.drain()


async def _lookup(host: str) -> list[IPAddress]:
    """Every address of ``host``, from the crawl's resolver if it has one, else from getaddrinfo."""
    resolver = installed_resolver()
    loop = asyncio.get_running_loop()
    try:
        if resolver is not None:
            return await resolver.lookup(host).asFuture(loop)
        return await loop.run_in_executor(None, system_addresses, host)
    except LookupFailed:
        raise Refused(_HOST_UNREACHABLE, f"DNS lookup failed for {host}") from None


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends, then pass the end on (half-close)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
