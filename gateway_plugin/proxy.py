"""The data path: `/function/NAME[/rest]` and `/async-function/NAME[/rest]` to the routed variant, all else passed through.

Bodies stream in both directions. Every call to a managed function is timed and handed to the recorder
(no Redis I/O on this path). A variant that fails *as a platform* is taken out of rotation (`Rotation`):

- platform faults: connection refused or reset before an answer; the OpenFaaS gateway's own 502 (it has no
  `X-Duration-Seconds`, which the watchdog puts on every function answer); 500/503 marked
  `X-OpenFaaS-Internal: proxy` (provider: no endpoints / cannot reach the service); 500 marked
  `X-OpenFaaS-Internal: of-watchdog` (the function's server is not up).
- everything else, including a handler's own 500, is the function's answer: recorded, returned, no failover.

What is retried on the other variant: a call whose connection to the first variant could not be opened
(the request body was not read yet), and a platform-fault answer to a call without a request body. A call
whose body already went out is never replayed: the client gets the platform's answer (or a 502 naming the
variant), and the next calls go to the other variant.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gaia_faas.gateway_plugin import connectors
from gaia_faas.gateway_plugin.upstream import UpstreamResponse

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
# The upstream gets its own Host from its URL.
NOT_FORWARDED_RAW = frozenset(name.encode() for name in HOP_BY_HOP | {"host"})
METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Raw (undecoded) function name segment: the OpenFaaS gateway's charset (`name` or `name.namespace`).
RAW_NAME_RE = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$")
MAX_NAME_LENGTH = 127  # 63 for the name, a dot, 63 for the namespace
SMALL_BODY = 256 * 1024  # upstream answers up to this size are read whole (fewer writes); larger ones stream
STREAM_CHUNK = 64 * 1024


class UpstreamBroke(Exception):
    """The upstream failed while its answer was read, before anything was sent to the client."""


class BadTarget(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Target:
    kind: str  # "sync", "async" or "passthrough"
    name: str  # function name ("" for passthrough)
    rest: str  # raw path after the name ("" or starting with "/")
    query: str  # raw query string without "?"
    raw_path: str  # raw path without the query


def parse_target(raw: str) -> Target:
    """Classify a raw request target and refuse anything that could reach an unintended upstream path (pure)."""
    path, _, query = raw.partition("?")
    if not path.startswith("/"):
        raise BadTarget(400, "absolute_form", "request target must be a path starting with '/'")
    if "\x00" in raw or "%00" in raw:
        raise BadTarget(400, "nul", "NUL bytes are not allowed in the path or query")
    segments = path.split("/")[1:]
    # Without '%', '\\' or "/." no segment can be a dot segment or hide a slash: skip the per-segment check.
    if "%" in path or "\\" in path or "/." in path:
        for segment in segments:
            decoded = unquote(segment)
            if decoded in (".", ".."):
                raise BadTarget(400, "dot_segment", "path segments '.' and '..' (plain or %-encoded) are not allowed")
            if "/" in decoded or "\\" in decoded:
                raise BadTarget(400, "encoded_slash", "encoded '/' or '\\' in a path segment is not allowed")
    if segments and segments[0] in ("function", "async-function"):
        if len(segments) < 2 or not segments[1]:
            raise BadTarget(400, "missing_name", f"/{segments[0]}/ needs a function name")
        name = segments[1]
        if len(name) > MAX_NAME_LENGTH:
            raise BadTarget(400, "long_name", f"function name longer than {MAX_NAME_LENGTH} characters")
        if not RAW_NAME_RE.match(name) or ".." in name:
            raise BadTarget(400, "bad_name", "function names may contain only letters, digits, '-', '_' and one '.namespace'")
        rest = path[len(segments[0]) + len(name) + 2:]
        return Target("sync" if segments[0] == "function" else "async", name, rest, query, path)
    return Target("passthrough", "", "", query, path)


def _dropped_headers(headers, always: frozenset[str]) -> frozenset[str]:
    """``always`` plus the headers the Connection header names (lower case)."""
    connection = headers.get("Connection")
    if not connection:
        return always
    return always | {token.strip().lower() for token in connection.split(",") if token.strip()}


def forward_headers(request: web.Request, call_id: str | None) -> bytes:
    """The request's header lines for the upstream (b"Name: value\\r\\n" each, bytes as the client sent them):
    hop-by-hop ones and Host removed, X-Forwarded-* added, Authorization kept. A bodiless POST, PUT, PATCH or
    DELETE gets Content-Length: 0 (as aiohttp's client sends it)."""
    headers = request.headers
    dropped = NOT_FORWARDED_RAW
    connection = headers.get("Connection")
    if connection:
        dropped = dropped | {token.strip().lower().encode("utf-8", "surrogateescape")
                             for token in connection.split(",") if token.strip()}
    previous = headers.get("X-Forwarded-For") if b"x-forwarded-for" not in dropped else None
    if previous is not None:
        dropped = dropped | {b"x-forwarded-for"}  # replaced by one line with the peer appended
    lines = [name + b": " + value + b"\r\n" for name, value in request.raw_headers if name.lower() not in dropped]
    peer = request.remote or ""
    added = f"X-Forwarded-For: {previous}, {peer}\r\n" if previous else f"X-Forwarded-For: {peer}\r\n"
    if "X-Forwarded-Host" not in headers and request.host:
        added += f"X-Forwarded-Host: {request.host}\r\n"
    if "X-Forwarded-Proto" not in headers:
        added += f"X-Forwarded-Proto: {request.scheme}\r\n"
    if call_id and "X-Call-Id" not in headers:
        added += f"X-Call-Id: {call_id}\r\n"
    if request.method not in METHODS_WITHOUT_BODY and not request.body_exists and "Content-Length" not in headers:
        added += "Content-Length: 0\r\n"
    lines.append(added.encode("utf-8", "surrogateescape"))
    return b"".join(lines)


def response_headers(upstream: UpstreamResponse) -> CIMultiDict:
    dropped = _dropped_headers(upstream.headers, HOP_BY_HOP)
    headers = CIMultiDict()
    for key, value in upstream.headers.items():
        if key.lower() in dropped:
            continue
        headers.add(key, value)
    return headers


def is_platform_fault(status: int, headers) -> bool:
    """Did the platform (not the function's code) fail to answer? See the module docstring (pure)."""
    if status < 500:
        return False
    internal = headers.get("X-OpenFaaS-Internal", "")
    if internal == "proxy" and status in (500, 503):
        return True
    if internal == "of-watchdog" and status == 500:
        return True
    return status == 502 and "X-Duration-Seconds" not in headers


class Rotation:
    """Per-worker out-of-rotation state of variants (pure apart from the injected clock).

    A variant that faults is out until a probe says it answers again. Probes are the plugin's own health
    request (`Prober`), never a client's call: `due()` hands out the variants whose next probe time has come,
    ``retry_after_s`` apart. While a variant is out its calls go to the other variant; with none to go to,
    they still go to it (and a good answer puts it back).
    """

    def __init__(self, retry_after_s: float = 1.0, clock=time.monotonic):
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down: dict[tuple[str, str], float] = {}  # (function, variant) -> when the next probe may go

    def is_out(self, function: str, variant: str) -> bool:
        return (function, variant) in self._down

    def out_of_rotation(self) -> list[tuple[str, str]]:
        return sorted(self._down)

    def choose(self, function: str, routed: str, other: str | None) -> tuple[str, str | None]:
        """(variant to call, variant failed over from or None)."""
        down = self._down
        if not down or (function, routed) not in down:
            return routed, None
        if other is not None and (function, other) not in down:
            return other, routed
        return routed, None

    def fault(self, function: str, variant: str) -> None:
        self._down.setdefault((function, variant), self._clock() + self.retry_after_s)

    def ok(self, function: str, variant: str) -> None:
        if self._down:
            self._down.pop((function, variant), None)

    def due(self) -> list[tuple[str, str]]:
        """The variants to probe now; each is due again ``retry_after_s`` later unless `ok` brings it back."""
        now = self._clock()
        keys = [key for key, when in self._down.items() if now >= when]
        for key in keys:
            self._down[key] = now + self.retry_after_s
        return keys


class Prober:
    """Puts variants back into rotation: each due one gets the plugin's own ``GET {variant}{--probe-path}``
    (the watchdog's `/_/health`), no client headers; a 2xx answer brings it back."""

    def __init__(self, state, timeout_s: float = 5.0):
        self.state = state
        self.timeout_s = timeout_s
        self._running: dict[tuple[str, str], asyncio.Task] = {}

    async def run(self) -> None:
        rotation = self.state.rotation
        try:
            while True:
                await asyncio.sleep(min(0.2, rotation.retry_after_s))
                for key in rotation.due():
                    if key not in self._running:
                        task = asyncio.create_task(self.probe(*key))
                        self._running[key] = task
                        task.add_done_callback(lambda _, key=key: self._running.pop(key, None))
        finally:
            for task in list(self._running.values()):
                task.cancel()

    async def probe(self, function: str, variant: str) -> bool:
        state = self.state
        spec = state.registry.get(function)
        if spec is None or variant not in spec.variants:  # gone since it failed
            state.rotation.ok(function, variant)
            return False
        url = _join(spec.variants[variant].sync_url, state.config.probe_path)
        try:
            async with state.client.get(URL(url, encoded=True), headers={"User-Agent": "gaia-probe"}, allow_redirects=False,
                                        timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as answer:
                await answer.read()
                healthy = 200 <= answer.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError):
            healthy = False
        state.metrics.probes.labels(function, variant, "ok" if healthy else "failed").inc()
        if healthy:
            state.rotation.ok(function, variant)
        return healthy


class ClientBody:
    """A client's request body as an async iterator for the upstream request, refusing a client that stalls.

    The next bytes must come within ``idle_s``; and after the first ``idle_s`` the body must have kept an
    average of ``min_rate`` bytes per second (a client sending one byte a second defeats an idle timeout
    alone). A refusal raises inside the upstream request and sets ``stalled``; a body that breaks off (the
    client hung up mid-upload) sets ``broken``. Either is the client's doing, never the variant's.
    """

    __slots__ = ("content", "idle_s", "min_rate", "stalled", "broken")

    def __init__(self, content, idle_s: float, min_rate: float):
        self.content, self.idle_s, self.min_rate = content, idle_s, min_rate
        self.stalled = False
        self.broken = False

    async def chunks(self):
        content, idle_s, min_rate = self.content, self.idle_s, self.min_rate
        loop = asyncio.get_running_loop()
        start = loop.time()
        received = 0
        while True:
            deadline = loop.time() + idle_s
            if min_rate > 0:
                deadline = min(deadline, start + idle_s + received / min_rate)
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await content.readany()
            except TimeoutError:
                self.stalled = True
                raise
            except Exception:
                self.broken = True
                raise
            if not chunk:
                return
            received += len(chunk)
            yield chunk


def _text(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


NOT_FORWARDED_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})  # would echo headers (tokens) back, or tunnel


def is_plugin_path(raw_path: str) -> bool:
    """Does this path belong to the plugin (`/gaia/...`, `/metrics`) however it is spelt? Never passed on:
    a mistyped method must not carry an admin token to the upstream (pure)."""
    path = unquote(raw_path).lstrip("/").lower()
    return path == "gaia" or path.startswith("gaia/") or path == "metrics"


class Proxy:
    """The catch-all handler; reads everything it needs from the gateway state."""

    def __init__(self, state):
        self.state = state
        # Call ids: a random per-worker prefix and a counter (unique without a random read per call).
        self._call_ids = itertools.count()
        self._call_id_prefix = os.urandom(8).hex()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        if request.version[0] != 1:  # HTTP/0.9 and "HTTP/2.0" request lines: not HTTP/1.x, not proxied
            state.metrics.rejected.labels("http_version").inc()
            response = _text(505, "gaia: only HTTP/1.0 and HTTP/1.1 are served")
            response.force_close()
            return response
        if request.method in NOT_FORWARDED_METHODS:
            state.metrics.rejected.labels("method").inc()
            return _text(405, f"gaia: {request.method} is not forwarded", {"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"})
        try:
            target = parse_target(request.raw_path)
        except BadTarget as exc:
            state.metrics.rejected.labels(exc.reason).inc()
            return _text(exc.status, f"gaia: {exc}")
        if target.kind == "passthrough":
            if is_plugin_path(target.raw_path):
                return self.not_an_api_route(request, target)
            return await self.passthrough(request, target)
        spec = state.registry.get(target.name)
        if spec is not None:
            return await self.invoke(request, target, spec, "")
        spec = state.registry.get_namespaced(target.name)
        if spec is not None:
            return await self.invoke(request, target, spec, "." + spec.namespace)
        return await self.passthrough(request, target)

    def not_an_api_route(self, request: web.Request, target: Target) -> web.Response:
        self.state.metrics.rejected.labels("plugin_path").inc()
        for resource in request.app.router.resources():
            info = resource.get_info()
            if info.get("path") == target.raw_path or (info.get("formatter") and resource._match(target.raw_path) is not None
                                                       and "tail" not in info.get("formatter", "")):
                return web.json_response({"error": f"{request.method} is not allowed on {target.raw_path}"}, status=405)
        return web.json_response({"error": f"no such Gaia API route: {target.raw_path}"}, status=404)

    async def passthrough(self, request: web.Request, target: Target) -> web.StreamResponse:
        upstream_url = self.state.config.upstream_url
        if not upstream_url:
            message = f"gaia: no function {target.name!r} in the routes file" if target.name else "gaia: no upstream configured"
            return _text(404, message)
        url = upstream_url.rstrip("/") + target.raw_path + (f"?{target.query}" if target.query else "")
        body = self._client_body(request)
        try:
            upstream = await self._send(request, url, None, body)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if body is not None and (body.stalled or body.broken):
                return self._client_body_failed(request, body, "the upstream")
            self.state.metrics.passthrough.labels("502").inc()
            return _text(502, f"gaia: upstream {upstream_url} failed: {_describe(exc)}")
        if connectors.lists_functions(request.method, target.raw_path):  # event connectors see logical functions
            self.state.metrics.passthrough.labels(str(upstream.status)).inc()
            return await connectors.listing_response(upstream, response_headers(upstream))
        try:
            response, _ = await self._relay(request, upstream, {})
        except UpstreamBroke as exc:
            self.state.metrics.passthrough.labels("502").inc()
            return _text(502, f"gaia: upstream {upstream_url} broke off its answer: {exc}")
        self.state.metrics.passthrough.labels(str(upstream.status)).inc()
        return response

    async def invoke(self, request: web.Request, target: Target, spec, namespace: str) -> web.StreamResponse:
        """Call ``spec``'s routed variant, or for a sized function the one hybrid dispatch picks (hybrid.py);
        ``namespace`` ("" or ".NAMESPACE") follows its name upstream."""
        sizing = self.state.sizing
        if spec.name not in sizing.sources:
            return await self._invoke(request, target, spec, namespace, None)
        call = await sizing.begin(spec, request, self._routed(spec))
        if call.stalled or call.broken:
            return self._client_body_failed(request, call, spec.name)
        response = None
        try:
            response = await self._invoke(request, target, spec, namespace, call.variant)
            return response
        finally:
            sizing.end(call, response)

    def _routed(self, spec) -> str:
        routed = self.state.routes.current(spec.name).variant
        if routed not in spec.variants:  # route names a variant this function lacks (e.g. after a redeploy)
            routed = spec.start_variant
        return routed

    async def _invoke(self, request: web.Request, target: Target, spec, namespace: str, dispatched: str | None) -> web.StreamResponse:
        state = self.state
        started = time.perf_counter()
        routed = dispatched or self._routed(spec)
        variant, failed_over_from = state.rotation.choose(spec.name, routed, spec.other_variant(routed))
        has_body = request.body_exists
        # One id for every attempt of this call. The OpenFaaS gateway does not echo an id it was given, so a
        # new one goes back to the client too.
        call_id = request.headers.get("X-Call-Id")
        new_call_id = None if call_id else f"{self._call_id_prefix}{next(self._call_ids):016x}"
        call_id = call_id or new_call_id
        attempts = 0
        while True:
            attempts += 1
            variant_target = spec.variants[variant]
            base = variant_target.sync_url if target.kind == "sync" else variant_target.async_url
            if base is None:
                return _text(501, f"gaia: {spec.name} has no asynchronous endpoint (static routes call variants directly)")
            base += namespace
            url = _join(base, target.rest) + (f"?{target.query}" if target.query else "")
            other = spec.other_variant(variant)
            can_retry = attempts == 1 and other is not None and not state.rotation.is_out(spec.name, other)
            extra = {"X-Gaia-Variant": variant}
            if new_call_id:
                extra["X-Call-Id"] = new_call_id
            if failed_over_from:
                extra["X-Gaia-Failover-From"] = failed_over_from
            body = self._client_body(request)
            try:
                upstream = await self._send(request, url, call_id, body)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if body is not None and (body.stalled or body.broken):
                    return self._client_body_failed(request, body, spec.name)
                if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
                    # No connection, so nothing was sent: safe to try the other variant even with a body.
                    self._platform_fault(spec.name, variant, started, 0)
                    if can_retry:
                        failed_over_from, variant = variant, other
                        continue
                    how = "refused the connection" if isinstance(exc, aiohttp.ClientConnectorError) else "did not accept a connection in time"
                    return _text(502, f"gaia: variant {variant} of {spec.name} ({variant_target.service} at {base}) "
                                      f"{how}: {_describe(exc)}",
                                 {**extra, "X-Gaia-Error": "variant-unreachable"})
                if isinstance(exc, asyncio.TimeoutError):
                    # The function took longer than --read-timeout: its own slowness, not a platform fault.
                    state.recorder.record(spec.name, variant, (time.perf_counter() - started) * 1000.0, 0, 0, False)
                    return _text(504, f"gaia: variant {variant} of {spec.name} ({variant_target.service} at {base}) "
                                      f"sent no answer within {state.config.read_timeout_s:g} s: {_describe(exc)}",
                                 {**extra, "X-Gaia-Error": "variant-timeout"})
                # Connection dropped after the request went out (the pod died, the platform reset it).
                self._platform_fault(spec.name, variant, started, 0)
                return _text(502, f"gaia: variant {variant} of {spec.name} ({variant_target.service} at {base}) "
                                  f"failed: {_describe(exc)}", {**extra, "X-Gaia-Error": "variant-failed"})
            fault = is_platform_fault(upstream.status, upstream.headers)
            if fault:
                self._platform_fault(spec.name, variant, started, upstream.status)
                if can_retry and not has_body:
                    upstream.release()
                    failed_over_from, variant = variant, other
                    continue
            else:
                state.rotation.ok(spec.name, variant)
            if failed_over_from:
                state.metrics.failovers.labels(spec.name, failed_over_from).inc()
            try:
                response, sent = await self._relay(request, upstream, extra)
                status = upstream.status
            except UpstreamBroke as exc:
                response, sent, status = _text(502, f"gaia: variant {variant} of {spec.name} ({variant_target.service}) "
                                                    f"broke off its answer: {exc}",
                                               {**extra, "X-Gaia-Error": "variant-broke-off"}), 0, 0
            latency_ms = (time.perf_counter() - started) * 1000.0
            if not fault:  # a fault was recorded as such above
                state.recorder.record(spec.name, variant, latency_ms, status, sent, False)
            state.metrics.call_done(spec.name, variant, status, latency_ms / 1000.0)
            return response

    def _platform_fault(self, function: str, variant: str, started: float, status: int) -> None:
        state = self.state
        state.rotation.fault(function, variant)
        state.metrics.platform_faults.labels(function, variant).inc()
        state.recorder.record(function, variant, (time.perf_counter() - started) * 1000.0, status, 0, True)

    def _client_body(self, request: web.Request) -> ClientBody | None:
        if not request.body_exists:
            return None
        config = self.state.config
        # hybrid.BODY_KEY: the size was read from the body's first bytes, which must go out first.
        return ClientBody(request.get("gaia_body", request.content), config.body_idle_timeout_s, config.body_min_rate)

    def _client_body_failed(self, request: web.Request, body, function: str) -> web.Response:
        """The client stopped sending its body (408) or broke it off (400): the connection closed, nothing
        recorded, the variant stays in rotation (not the function's doing). ``body``: the ClientBody, or the
        hybrid.SizedCall whose size was being read from the body (both say ``broken``)."""
        config = self.state.config
        if body.broken:
            self.state.metrics.rejected.labels("body_broken").inc()
            response = _text(400, f"gaia: the request body broke off; the call to {function} was abandoned")
            response.force_close()
            return response
        self.state.metrics.rejected.labels("body_stalled").inc()
        response = _text(408, f"gaia: the request body stalled (no bytes for {config.body_idle_timeout_s:g} s, or under "
                              f"{config.body_min_rate:g} bytes/s after that); the call to {function} was abandoned")
        response.force_close()  # the rest of that body must not be read as a next request
        return response

    async def _send(self, request: web.Request, url: str, call_id: str | None, body: ClientBody | None) -> UpstreamResponse:
        if body is None:
            return await self.state.upstream.request(request.method, url, forward_headers(request, call_id))
        return await self.state.upstream.request(request.method, url, forward_headers(request, call_id), body.chunks(),
                                                 chunked="Content-Length" not in request.headers)

    async def _relay(self, request: web.Request, upstream: UpstreamResponse, extra: dict) -> tuple[web.StreamResponse, int]:
        """Send the upstream answer to the client; returns the response and the body bytes sent."""
        headers = response_headers(upstream)
        headers.update(extra)
        try:
            length = upstream.content_length
            if request.method != "HEAD" and upstream.status not in (204, 304) and length is not None and length <= SMALL_BODY:
                try:
                    body = await upstream.read()
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    raise UpstreamBroke(_describe(exc)) from exc
                headers.pop("Content-Length", None)
                response = web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=body)
                if "Content-Type" not in upstream.headers:
                    response.headers.pop("Content-Type", None)
                return response, len(body)
            # From here on the status line is out: an upstream failure can only cut the connection short.
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            await response.prepare(request)
            sent = 0
            async for chunk in upstream.content.iter_chunked(STREAM_CHUNK):
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
            return response, sent
        finally:
            upstream.release()


def _join(base: str, rest: str) -> str:
    """``base`` + ``rest``, giving a bare scheme://host[:port] base the root path when rest is empty."""
    if rest or "/" in base.partition("://")[2]:
        return base + rest
    return base + "/"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
