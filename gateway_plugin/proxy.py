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

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
# The upstream gets its own Host from its URL.
NOT_FORWARDED = HOP_BY_HOP | {"host"}
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


def forward_headers(request: web.Request, call_id: str | None) -> CIMultiDict:
    """Request headers for the upstream: hop-by-hop ones removed, X-Forwarded-* added, Authorization kept."""
    dropped = _dropped_headers(request.headers, NOT_FORWARDED)
    headers = CIMultiDict()
    for key, value in request.headers.items():
        if key.lower() in dropped:
            continue
        headers.add(key, value)
    peer = request.remote or ""
    previous = headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{previous}, {peer}" if previous else peer
    if "X-Forwarded-Host" not in headers and request.host:
        headers["X-Forwarded-Host"] = request.host
    if "X-Forwarded-Proto" not in headers:
        headers["X-Forwarded-Proto"] = request.scheme
    if call_id and "X-Call-Id" not in headers:
        headers["X-Call-Id"] = call_id
    return headers


def response_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict:
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
    """Per-replica out-of-rotation state of variants (pure apart from the injected clock).

    A variant that faults is out for ``retry_after_s``; after that one call probes it (the next ones keep
    going to the other variant until the probe answers), and a good answer brings it back.
    """

    def __init__(self, retry_after_s: float = 1.0, clock=time.monotonic):
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down: dict[tuple[str, str], float] = {}  # (function, variant) -> when the next probe may go

    def is_out(self, function: str, variant: str) -> bool:
        until = self._down.get((function, variant))
        return until is not None and self._clock() < until

    def out_of_rotation(self) -> list[tuple[str, str]]:
        return sorted(self._down)

    def choose(self, function: str, routed: str, other: str | None) -> tuple[str, str | None]:
        """(variant to call, variant failed over from or None)."""
        if not self._down:
            return routed, None
        key = (function, routed)
        until = self._down.get(key)
        if until is None:
            return routed, None
        now = self._clock()
        if now >= until:
            self._down[key] = now + self.retry_after_s  # this call is the probe; others wait for its answer
            return routed, None
        if other is not None and not self.is_out(function, other):
            return other, routed
        return routed, None

    def fault(self, function: str, variant: str) -> None:
        self._down[(function, variant)] = self._clock() + self.retry_after_s

    def ok(self, function: str, variant: str) -> None:
        if self._down:
            self._down.pop((function, variant), None)


def _text(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


class Proxy:
    """The catch-all handler; reads everything it needs from the gateway state."""

    def __init__(self, state):
        self.state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        try:
            target = parse_target(request.raw_path)
        except BadTarget as exc:
            state.metrics.rejected.labels(exc.reason).inc()
            return _text(exc.status, f"gaia: {exc}")
        spec = state.registry.get(target.name) if target.kind != "passthrough" else None
        if spec is None:
            return await self.passthrough(request, target)
        return await self.invoke(request, target, spec)

    async def passthrough(self, request: web.Request, target: Target) -> web.StreamResponse:
        upstream_url = self.state.config.upstream_url
        if not upstream_url:
            message = f"gaia: no function {target.name!r} in the routes file" if target.name else "gaia: no upstream configured"
            return _text(404, message)
        url = upstream_url.rstrip("/") + target.raw_path + (f"?{target.query}" if target.query else "")
        try:
            upstream = await self._send(request, url, call_id=None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
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

    async def invoke(self, request: web.Request, target: Target, spec) -> web.StreamResponse:
        state = self.state
        started = time.perf_counter()
        routed = state.routes.current(spec.name).variant
        if routed not in spec.variants:  # route names a variant this function lacks (e.g. after a redeploy)
            routed = spec.start_variant
        variant, failed_over_from = state.rotation.choose(spec.name, routed, spec.other_variant(routed))
        has_body = request.body_exists
        # One id for every attempt of this call. The OpenFaaS gateway does not echo an id it was given, so a
        # new one goes back to the client too.
        call_id = request.headers.get("X-Call-Id")
        new_call_id = None if call_id else os.urandom(16).hex()
        call_id = call_id or new_call_id
        attempts = 0
        while True:
            attempts += 1
            variant_target = spec.variants[variant]
            base = variant_target.sync_url if target.kind == "sync" else variant_target.async_url
            if base is None:
                return _text(501, f"gaia: {spec.name} has no asynchronous endpoint (static routes call variants directly)")
            url = _join(base, target.rest) + (f"?{target.query}" if target.query else "")
            other = spec.other_variant(variant)
            can_retry = attempts == 1 and other is not None and not state.rotation.is_out(spec.name, other)
            extra = {"X-Gaia-Variant": variant}
            if new_call_id:
                extra["X-Call-Id"] = new_call_id
            if failed_over_from:
                extra["X-Gaia-Failover-From"] = failed_over_from
            try:
                upstream = await self._send(request, url, call_id=call_id)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # No connection, so nothing was sent: safe to try the other variant even with a body.
                self._platform_fault(spec.name, variant, started, 0)
                if can_retry:
                    failed_over_from, variant = variant, other
                    continue
                how = "refused the connection" if isinstance(exc, aiohttp.ClientConnectorError) else "did not accept a connection in time"
                return _text(502, f"gaia: variant {variant} of {spec.name} ({variant_target.service} at {base}) "
                                  f"{how}: {_describe(exc)}",
                             {**extra, "X-Gaia-Error": "variant-unreachable"})
            except asyncio.TimeoutError as exc:
                # The function took longer than --read-timeout: its own slowness, not a platform fault.
                state.recorder.record(spec.name, variant, (time.perf_counter() - started) * 1000.0, 0, 0, False)
                return _text(504, f"gaia: variant {variant} of {spec.name} ({variant_target.service} at {base}) "
                                  f"sent no answer within {state.config.read_timeout_s:g} s: {_describe(exc)}",
                             {**extra, "X-Gaia-Error": "variant-timeout"})
            except aiohttp.ClientError as exc:
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

    async def _send(self, request: web.Request, url: str, call_id: str | None) -> aiohttp.ClientResponse:
        data = request.content if request.body_exists else None
        return await self.state.client.request(
            request.method, URL(url, encoded=True), headers=forward_headers(request, call_id), data=data,
            allow_redirects=False, compress=None)

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse, extra: dict) -> tuple[web.StreamResponse, int]:
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
