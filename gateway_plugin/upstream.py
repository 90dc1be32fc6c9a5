"""The proxy's upstream client: kept-alive HTTP/1.1 connections per worker, read by aiohttp's own protocol.

aiohttp's ClientSession spent ~100 µs of CPU per proxied call on the development machine (request and response
objects, URL, cookie, redirect, auth, proxy and tracing machinery, header normalisation), a third of the plugin's
cost per call, for nothing a proxied call needs. `UpstreamPool.request` writes the request line and the header
block as given and reads the answer with aiohttp's connection protocol (`ResponseHandler`: the C HTTP parser,
the timeout between bytes, flow control), the very code ClientSession reads with: ~50 µs per call.

What the proxy's failover rules rely on is kept from ClientSession:
- a connection that cannot be opened raises `aiohttp.ClientConnectorError` (refused, DNS, TLS) or
  `aiohttp.ConnectionTimeoutError` (none within ``connect_timeout_s``): nothing was sent;
- no byte for ``read_timeout_s`` raises `aiohttp.SocketTimeoutError` (an `asyncio.TimeoutError`);
- a connection lost before the answer raises `aiohttp.ServerDisconnectedError` (or `ClientOSError`), a broken
  answer body `aiohttp.ClientPayloadError`;
- an idempotent call without a body that fails that way on a kept-alive connection (the upstream closed it
  while it sat idle) is sent once more on a new connection;
- an error raised by the request body (e.g. the proxy's stalled-body timeout) is raised by `request`, or by
  the answer's body when the answer had begun.
Request bodies stream while the answer is read, chunked when the caller gives no Content-Length.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterable
from dataclasses import dataclass

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDictProxy
from yarl import URL

# A kept connection idle longer is closed, not reused. Below the runtime's own keep-alive (gunicorn's default
# 2 s, which templates/gaia-python/index.py keeps), so a call is never written onto a connection the runtime is
# closing at that moment: a POST failing that way cannot be sent again (its body is streamed, not kept).
IDLE_TIMEOUT_S = 1.5
DNS_TTL_S = 60.0  # resolved addresses are reused this long (aiohttp's ttl_dns_cache)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@dataclass(frozen=True)
class Origin:
    """scheme://host[:port] of an upstream URL, parsed once."""

    name: str  # "http://host:port" as it appears in URLs
    host: str
    port: int
    host_header: str  # host[:port], the port left out when it is the scheme's default
    tls: bool
    key: ConnectionKey  # what aiohttp's connection errors describe

    @classmethod
    def parse(cls, name: str) -> "Origin":
        url = URL(name)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"upstream URL must be http:// or https:// with a host, got {name!r}")
        tls = url.scheme == "https"
        key = ConnectionKey(url.host, url.port, tls, True, None, None, None)
        return cls(name, url.host, url.port, url.host_port_subcomponent, tls, key)


class UpstreamResponse:
    """An upstream's answer: status line and headers read, the body in ``content`` (an aiohttp StreamReader).
    ``release()`` gives the connection back (kept when the answer was read to its end), or closes it."""

    __slots__ = ("status", "reason", "headers", "content", "_pool", "_origin", "_protocol", "_body_writer")

    def __init__(self, pool: "UpstreamPool", origin: Origin, protocol: ResponseHandler, message, payload,
                 body_writer: asyncio.Task | None):
        self.status: int = message.code
        self.reason: str = message.reason
        self.headers: CIMultiDictProxy[str] = message.headers
        self.content = payload
        self._pool, self._origin, self._protocol, self._body_writer = pool, origin, protocol, body_writer

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return None if value is None else int(value)  # the parser accepted only digits

    async def read(self) -> bytes:
        return await self.content.read()

    def release(self) -> None:
        protocol = self._protocol
        if protocol is None:
            return
        self._protocol = None
        writer = self._body_writer
        body_sent = writer is None or (writer.done() and not writer.cancelled() and writer.result())
        if writer is not None and not writer.done():
            writer.cancel()
        self._pool._release(self._origin, protocol, body_sent and self.content.is_eof())


class UpstreamPool:
    """Kept-alive connections to the upstreams, at most ``limit`` open at a time (callers wait beyond)."""

    def __init__(self, *, limit: int, connect_timeout_s: float, read_timeout_s: float,
                 idle_timeout_s: float = IDLE_TIMEOUT_S):
        self.limit = limit
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._origins: dict[str, Origin] = {}
        self._idle: dict[str, deque[tuple[ResponseHandler, float]]] = {}  # origin name -> (protocol, idle since)
        self._addresses: dict[tuple[str, int], tuple[float, list]] = {}  # (host, port) -> (expiry, addrinfos)
        self._open = 0  # connections open or being opened, idle ones included
        self._waiters: deque[asyncio.Future] = deque()
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def request(self, method: str, url: str, header_lines: bytes, body: AsyncIterable[bytes] | None = None,
                      chunked: bool = False) -> UpstreamResponse:
        """Send ``method url`` with ``header_lines`` (b"Name: value\\r\\n" each; Host is added) and ``body``
        (chunked when ``chunked``, else the caller's header lines carry its Content-Length)."""
        scheme_end = url.index("://") + 3
        path_start = url.find("/", scheme_end)
        origin_name, target = (url, "/") if path_start < 0 else (url[:path_start], url[path_start:])
        origin = self._origins.get(origin_name)
        if origin is None:
            origin = self._origins[origin_name] = Origin.parse(origin_name)
        head = (f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n".encode("utf-8", "surrogateescape")
                + header_lines + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked and body is not None else b"\r\n"))
        may_resend = body is None and method in IDEMPOTENT_METHODS
        while True:
            protocol, reused = await self._acquire(origin)
            protocol.set_response_params(read_timeout=self.read_timeout_s, skip_payload=method == "HEAD",
                                         read_until_eof=True, auto_decompress=False)
            protocol.transport.write(head)
            body_writer = None
            if body is None:
                protocol.start_timeout()
            else:
                body_writer = asyncio.ensure_future(_write_body(protocol, body, chunked))
            try:
                while True:
                    message, payload = await protocol.read()
                    if not 100 <= message.code < 200 or message.code == 101:  # interim answers (100 Continue) are skipped
                        break
            except BaseException as exc:
                if body_writer is not None and not body_writer.done():
                    body_writer.cancel()
                self._release(origin, protocol, False)
                if reused and may_resend and isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
                    may_resend = False
                    continue
                raise
            return UpstreamResponse(self, origin, protocol, message, payload, body_writer)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop()[0].close()
                self._open -= 1
        self._idle.clear()

    async def _acquire(self, origin: Origin) -> tuple[ResponseHandler, bool]:
        """A kept connection to ``origin`` (True) or a new one (False)."""
        loop = asyncio.get_running_loop()
        while True:
            idle = self._idle.get(origin.name)
            now = loop.time()
            while idle:
                protocol, since = idle.pop()
                if now - since < self.idle_timeout_s and protocol.is_connected() and not protocol.should_close:
                    return protocol, True
                protocol.close()
                self._open -= 1
            if self._open < self.limit or self._close_one_idle():
                break
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: the room goes to the next caller
                else:
                    waiter.cancel()
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                raise
        self._open += 1
        try:
            return await self._connect(origin), False
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    def _close_one_idle(self) -> bool:
        """At the limit: make room by closing a kept connection to another upstream, if there is one."""
        for idle in self._idle.values():
            if idle:
                idle.popleft()[0].close()
                self._open -= 1
                return True
        return False

    def _release(self, origin: Origin, protocol: ResponseHandler, reusable: bool) -> None:
        if reusable and not self._closed and protocol.is_connected() and not protocol.should_close:
            idle = self._idle.get(origin.name)
            if idle is None:
                idle = self._idle[origin.name] = deque()
            now = asyncio.get_running_loop().time()
            if idle and now - idle[0][1] >= self.idle_timeout_s:  # the oldest kept one has expired
                idle.popleft()[0].close()
                self._open -= 1
            idle.append((protocol, now))
        else:
            protocol.close()
            self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, origin: Origin) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        tls = None
        if origin.tls:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                last_error: OSError | None = None
                for family, type_, proto, _, address in await self._resolve(origin):
                    try:
                        _, protocol = await loop.create_connection(
                            lambda: ResponseHandler(loop), address[0], address[1], family=family, proto=proto,
                            ssl=tls, server_hostname=origin.host if tls else None)
                        return protocol
                    except TimeoutError:
                        raise
                    except OSError as exc:
                        last_error = exc
                raise last_error or OSError(f"no address for {origin.host}")
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {origin.name}") from exc
        except OSError as exc:
            raise aiohttp.ClientConnectorError(origin.key, exc) from exc

    async def _resolve(self, origin: Origin) -> list:
        key = (origin.host, origin.port)
        now = asyncio.get_running_loop().time()
        cached = self._addresses.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await asyncio.get_running_loop().getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        self._addresses[key] = (now + DNS_TTL_S, infos)
        return infos


async def _write_body(protocol: ResponseHandler, body: AsyncIterable[bytes], chunked: bool) -> bool:
    """Stream ``body`` after the header block; True when all of it went out. A failure is set on the
    protocol, so the caller waiting for the answer gets it."""
    try:
        async for chunk in body:
            transport = protocol.transport
            if transport is None or transport.is_closing():
                raise aiohttp.ClientConnectionResetError("Connection lost")
            if not chunk:
                continue
            if chunked:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
            else:
                transport.write(chunk)
            if protocol.writing_paused:
                await protocol._drain_helper()
        if chunked and protocol.transport is not None:
            protocol.transport.write(b"0\r\n\r\n")
    except asyncio.CancelledError:
        raise
    except TimeoutError as exc:  # the body's own timeout (a stalled client): raised as it is
        _fail(protocol, exc)
        return False
    except Exception as exc:
        _fail(protocol, aiohttp.ClientConnectionError(f"failed to send the request body: {exc!r}"))
        return False
    protocol.start_timeout()
    return True


def _fail(protocol: ResponseHandler, exc: BaseException) -> None:
    protocol.set_exception(exc)
    payload = protocol._payload
    if payload is not None and not payload.is_eof():
        payload.set_exception(exc)
    if protocol.transport is not None:
        protocol.transport.close()
