"""The HTTP server under the plugin's app: header limits, quiet parse errors, the optional access log, uvloop.

aiohttp's parser bounds each header line (``max_field_size``) and the number of headers, but not their
total: 120 headers of 8 KB are a megabyte held per connection while a slow body trickles in. `GaiaServer`
gives each connection a `LimitedRequestHandler`, which refuses with 431 (and closes) a request whose header
block is larger than ``max_header_bytes``, both while the block is still arriving and once it is parsed.

`gaia gateway` runs the app through `runner(app, limits)` (an aiohttp AppRunner, which the gunicorn worker
accepts from the app factory), picks the uvloop worker class when uvloop is installed (`worker_class`) and
sets each worker's garbage collection for a process that keeps many long-lived objects (`tune_gc`).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_server import Server

log = logging.getLogger("gaia.gateway")
access_log = logging.getLogger("gaia.access")


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 32 * 1024  # the request line and all header lines together
    max_headers: int = 100
    max_line_size: int = 8190  # request line and each header line (aiohttp's and nginx's 8 KiB)
    keepalive_timeout_s: float = 75.0
    shutdown_timeout_s: float = 9.5
    access_log: bool = False


class HeaderBlockTooLarge(HttpProcessingError):
    code = 431
    message = "Request Header Fields Too Large"


def _header_block_size(message) -> int:
    # The request line ("GET /path HTTP/1.1" CRLF), then each header line: name + ": " + value + CRLF.
    return len(message.method) + len(message.path) + 11 + sum(len(name) + len(value) + 4 for name, value in message.raw_headers)


class LimitedRequestHandler(RequestHandler):
    """aiohttp's connection protocol plus a cap on the total size of a request's header block."""

    __slots__ = ("_max_header_bytes", "_header_bytes", "_last_payload", "_refused", "_quiet")

    def __init__(self, manager, *, max_header_bytes: int, **kwargs):
        super().__init__(manager, **kwargs)
        self._max_header_bytes = max_header_bytes
        self._header_bytes = 0  # bytes received since the last complete header block, while no body is pending
        self._last_payload = None
        self._refused = False
        self._quiet = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        payload = self._last_payload
        in_header_block = payload is None or payload.is_eof()
        before = self._request_count
        super().data_received(data)
        new = self._request_count - before
        if new:
            self._header_bytes = 0
            messages = self._messages
            for index in range(len(messages) - new, len(messages)):
                message, payload = messages[index]
                if not isinstance(message, _ErrInfo) and _header_block_size(message) > self._max_header_bytes:
                    messages[index] = (self._too_large(), EMPTY_PAYLOAD)
                    self._refuse()
                    return
            self._last_payload = messages[-1][1] if messages else None
        elif in_header_block:
            self._header_bytes += len(data)
            if self._header_bytes > self._max_header_bytes:
                self._messages.append((self._too_large(), EMPTY_PAYLOAD))
                self._refuse()

    def _too_large(self) -> _ErrInfo:
        text = f"request headers larger than {self._max_header_bytes} bytes in all"
        return _ErrInfo(status=431, exc=HeaderBlockTooLarge(message=text), message=text)

    def _refuse(self) -> None:
        """Stop reading: the queued 431 is answered and the connection closed (aiohttp closes after errors)."""
        self._refused = True
        if self.transport is not None:
            self.transport.pause_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None):
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # A malformed request is the client's problem: one line, no traceback.
        log.info("refused a malformed request from %s: %s %s", request.remote, status, message or exc)
        self._quiet = True
        try:
            return super().handle_error(request, status, exc, message)
        finally:
            self._quiet = False

    def log_exception(self, *args, **kwargs) -> None:
        if not self._quiet:
            super().log_exception(*args, **kwargs)


class GaiaServer(Server):
    def __init__(self, handler, *, max_header_bytes: int, **kwargs):
        super().__init__(handler, **kwargs)
        self._max_header_bytes = max_header_bytes

    def __call__(self) -> RequestHandler:
        return LimitedRequestHandler(self, loop=self._loop, max_header_bytes=self._max_header_bytes, **self._kwargs)


class GaiaRunner(web.AppRunner):
    def __init__(self, app: web.Application, limits: ServerLimits, **kwargs):
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        return GaiaServer(server.request_handler, request_factory=server.request_factory, loop=server._loop,
                          max_header_bytes=self._limits.max_header_bytes, **server._kwargs)


class JsonAccessLogger(AbstractAccessLogger):
    """One JSON object per request on the `gaia.access` logger. The query string is left out (it may carry
    secrets); managed calls name their function and variant."""

    def log(self, request, response, time_s: float) -> None:
        self.logger.info(json.dumps({
            "ts": round(time.time(), 3), "remote": request.remote, "method": request.method, "path": request.path,
            "status": response.status, "bytes": response.body_length, "ms": round(time_s * 1000.0, 3),
            "variant": response.headers.get("X-Gaia-Variant"), "call_id": response.headers.get("X-Call-Id"),
        }, separators=(",", ":")))

    @property
    def enabled(self) -> bool:
        return True


def handler_args(limits: ServerLimits) -> dict:
    """The aiohttp parser's own per-line and count limits (`web.Application(handler_args=...)`)."""
    return {"max_headers": limits.max_headers, "max_line_size": limits.max_line_size,
            "max_field_size": limits.max_line_size}


def runner(app: web.Application, limits: ServerLimits) -> GaiaRunner:
    if limits.access_log:
        return GaiaRunner(app, limits, keepalive_timeout=limits.keepalive_timeout_s, access_log=access_log,
                          access_log_class=JsonAccessLogger, shutdown_timeout=limits.shutdown_timeout_s)
    return GaiaRunner(app, limits, keepalive_timeout=limits.keepalive_timeout_s, access_log=None,
                      shutdown_timeout=limits.shutdown_timeout_s)


def worker_class() -> str:
    """gunicorn's aiohttp worker on uvloop when it is installed (a faster event loop), else on asyncio's."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "aiohttp.GunicornWebWorker"
    return "aiohttp.GunicornUVLoopWebWorker"


# Young collections every 50,000 new container objects instead of CPython's 700. A worker holds tens of
# thousands of long-lived objects (routes, every function's per-second stats and policy state) and the
# leader's evaluation of 1,000 functions allocates about 30,000 more: with the defaults that evaluation ran
# 25 young, 2 middle and, every other evaluation, one full collection, 54 ms of its 187
# (benchmarks/controller_scale.py). Our objects rarely form cycles, so garbage waits little longer.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """A plugin worker's garbage collection, set once at its start: what is alive then (modules, the app,
    its configuration) is frozen out of every later collection, and young collections are rarer."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)
