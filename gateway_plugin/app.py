"""The plugin's aiohttp application: configuration, shared state and lifecycle.

`create_app(config, background_tasks=..., api_routes=...)` returns the app. Its `GatewayState` is at
``app[STATE]``: the registry, the route table, the recorder and the stats reader, the rotation, the metrics,
the async Redis client, the shared aiohttp ClientSession and the proxy's upstream connection pool (one per worker).

Background tasks: each entry of ``background_tasks`` is ``async def task(app) -> None``. It is started once
the state is ready (Redis client, HTTP client, registry loaded, route sync running) and cancelled when the
app shuts down, before the HTTP client and Redis are closed. The controller runs this way.

Extra `/gaia/v1/*` routes: pass ``api_routes`` (aiohttp RouteDefs, e.g. a ``web.RouteTableDef``); they are
registered before the proxy's catch-all. `api.py` shows the pattern (`require_token` for writers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from aiohttp import web

from gaia_faas.gateway_plugin.hybrid import Sizing
from gaia_faas.gateway_plugin.metrics import Metrics
from gaia_faas.gateway_plugin.pool import PoolConfig
from gaia_faas.gateway_plugin.proxy import Prober, Proxy, Rotation
from gaia_faas.gateway_plugin.registry import (BasicAuth, Discovery, Registry, RegistryError, discover_openfaas, file_stamp,
                                               load_static_routes)
from gaia_faas.gateway_plugin.routes import RouteTable
from gaia_faas.gateway_plugin.server import ServerLimits, handler_args
from gaia_faas.gateway_plugin.stats import StatsReader, StatsRecorder
from gaia_faas.gateway_plugin.summaries import WindowCache
from gaia_faas.gateway_plugin.upstream import UpstreamPool

log = logging.getLogger("gaia.gateway")

BackgroundTask = Callable[[web.Application], Awaitable[None]]


@dataclass
class GatewayConfig:
    """Everything `gaia gateway` can set. Static mode when ``routes_file`` is set, else OpenFaaS mode."""

    redis_url: str
    upstream_url: str | None = None  # OpenFaaS gateway; in static mode optional, for passthrough only
    routes_file: str | None = None
    api_token: str | None = None  # bearer token for pin/unpin; None disables them
    basic_auth: BasicAuth | None = None  # for GET /system/functions
    discovery_interval_s: float = 10.0
    stats_ttl_s: int = 3600
    flush_interval_s: float = 0.25
    max_buffer: int = 100_000
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0  # between bytes from the upstream; GPU calls can be long
    retry_after_s: float = 1.0  # how long a failed variant stays out of rotation before a probe
    max_connections: int = 4096  # upstream connection pool size per worker
    route_reload_interval_s: float = 5.0
    redis_timeout_s: float = 2.0  # one Redis command, and the whole Redis work of one API call
    probe_path: str = "/_/health"  # what an out-of-rotation variant is probed with (the watchdog's health)
    server: ServerLimits = field(default_factory=ServerLimits)  # header limits, access log (server.py)
    body_idle_timeout_s: float = 10.0  # longest pause in a client's request body
    body_min_rate: float = 1024.0  # bytes/s a request body must average after its first body_idle_timeout_s
    api_max_window_s: int = 3600  # longest stats window the API answers
    api_reads_per_s: float = 1000.0  # Redis hashes the API may read per second per worker (paced, never burst)
    gpu_capacity: int | None = None  # GPU replicas the controller may hold at once (capacity.py); None: no setting
    gpu_capacity_from_cluster: bool = True  # in a Kubernetes pod, also count the nodes' allocatable GPUs
    gpu_resource: str = "nvidia.com/gpu"
    pool: PoolConfig = field(default_factory=PoolConfig)  # preemption ratio and minimum dwell (pool.py)

    @property
    def mode(self) -> str:
        return "static" if self.routes_file else "openfaas"

    def check(self) -> None:
        if not self.routes_file and not self.upstream_url:
            raise ValueError("give --upstream (an OpenFaaS gateway URL) or --routes (a static routes file)")
        for name, url in (("--upstream", self.upstream_url), ("--redis-url", self.redis_url)):
            if url is not None and "://" not in url:
                raise ValueError(f"{name} must be a URL with a scheme, got {url!r}")
        if self.upstream_url and (urlsplit(self.upstream_url).username or urlsplit(self.upstream_url).password):
            # They would show in the API and in 502 bodies, and go to every function.
            raise ValueError("--upstream must not carry credentials: give the user with --openfaas-user and the "
                             "password in a file with --openfaas-password-file (or OPENFAAS_PASSWORD)")
        if not self.probe_path.startswith("/"):
            raise ValueError(f"--probe-path must start with '/', got {self.probe_path!r}")
        for name, value in (("--body-timeout", self.body_idle_timeout_s), ("--redis-timeout", self.redis_timeout_s),
                            ("--api-read-rate", self.api_reads_per_s), ("--api-max-window", self.api_max_window_s),
                            ("--max-header-bytes", self.server.max_header_bytes), ("--max-headers", self.server.max_headers)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.body_min_rate < 0:
            raise ValueError(f"--body-min-rate must be 0 (off) or positive, got {self.body_min_rate}")


@dataclass
class GatewayState:
    config: GatewayConfig
    metrics: Metrics
    registry: Registry
    rotation: Rotation
    # The rest is created when the app starts (they need the running event loop) and set until it stops.
    redis: aioredis.Redis | None = None
    client: aiohttp.ClientSession | None = None  # discovery, probes, the controller's gateway calls
    upstream: UpstreamPool | None = None  # proxied calls (upstream.py: a lean client, aiohttp's parser)
    routes: RouteTable | None = None
    recorder: StatsRecorder | None = None
    stats: StatsReader | None = None
    summaries: WindowCache | None = None
    sizing: Sizing | None = None  # hybrid dispatch of the functions that declare com.gaia.size-from
    registry_error: str | None = None  # last discovery failure, shown by the API
    registry_loaded: bool = False  # a discovery (or the routes file) succeeded once: the plugin can route
    routes_file_stamp: tuple[int, int, int] | None = None  # the routes file as the registry was loaded from it
    redis_error: str | None = None  # None while Redis answers the health watch
    tasks: list[asyncio.Task] = field(default_factory=list)


STATE = web.AppKey("gaia_state", GatewayState)


def redis_client(config: GatewayConfig) -> aioredis.Redis:
    """The plugin's Redis client. One immediate retry replaces a pooled connection that died with a Redis
    restart; no backoff, because every caller here (flush, route sync, API) has its own schedule or answers
    at once. A timeout is not retried: a paused or overloaded Redis costs a caller one socket timeout, not two."""
    return aioredis.Redis.from_url(
        config.redis_url, socket_connect_timeout=min(0.5, config.redis_timeout_s), socket_timeout=config.redis_timeout_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)))


async def refresh_registry(state: GatewayState) -> None:
    """Reload the registry from its source; on failure keep the previous one and remember why.

    Never raises (but for cancellation): an unexpected failure is logged with its traceback once, shown in
    the health answer and counted, and the next refresh tries again.
    """
    config = state.config
    try:
        if config.routes_file:
            stamp = file_stamp(config.routes_file)
            if stamp is not None and stamp == state.routes_file_stamp and state.registry_error is None:
                return  # unchanged since it was loaded: parsing a thousand functions again costs ~0.1 s
            # In a thread: the worker's loop proxies meanwhile, but for the stretches libyaml's C parser holds
            # the GIL (a 1,000-function file: 109 ms to parse, the loop stalled 50 ms at most; docs/controller.md).
            discovery = Discovery(await asyncio.to_thread(load_static_routes, config.routes_file), [], None)
            state.routes_file_stamp = stamp
        else:
            asked_at = time.time()  # before asking: a release done later is not in this answer
            discovery = await discover_openfaas(state.client, config.upstream_url, config.basic_auth)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = str(exc) if isinstance(exc, RegistryError) else f"unexpected {type(exc).__name__}: {exc}"
        if state.registry_error != error:
            log.warning("function registry not refreshed: %s", error, exc_info=not isinstance(exc, RegistryError))
        state.registry_error = error
        state.metrics.discovery_failures.inc()
        state.metrics.registry_ok.set(0)
        return
    conflicts = discovery.conflicts
    if conflicts and conflicts != state.registry.conflicts:
        for conflict in conflicts:
            log.warning("function registry: %s", conflict)
    state.registry_error = None
    state.registry.replace(discovery.functions, conflicts, discovery.replicas,
                           None if discovery.replicas is None else asked_at)
    state.registry_loaded = True
    state.metrics.registry_ok.set(1)
    state.metrics.registry_conflicts.set(len(conflicts))


async def _discovery_loop(state: GatewayState) -> None:
    while True:
        await asyncio.sleep(state.config.discovery_interval_s)
        await refresh_registry(state)


async def _redis_watch(state: GatewayState, interval_s: float = 1.0) -> None:
    """PING Redis every second, so that health says when it is away (stopped, paused, unreachable)."""
    while True:
        try:
            async with asyncio.timeout(state.config.redis_timeout_s):
                await state.redis.ping()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if state.redis_error is None:
                log.warning("Redis not answering: %s", error)
            state.redis_error = error
            state.metrics.redis_up.set(0)
        else:
            if state.redis_error is not None:
                log.info("Redis answers again")
            state.redis_error = None
            state.metrics.redis_up.set(1)
        await asyncio.sleep(interval_s)


def create_app(config: GatewayConfig, *, background_tasks: Iterable[BackgroundTask] = (),
               api_routes: Iterable[web.AbstractRouteDef] = ()) -> web.Application:
    config.check()
    from gaia_faas.gateway_plugin import api

    app = web.Application(handler_args=handler_args(config.server))
    state = GatewayState(config=config, metrics=Metrics(), registry=Registry(), rotation=Rotation(config.retry_after_s))
    app[STATE] = state
    if config.routes_file:
        # Fail at start on a broken routes file: a typo must not silently route everything nowhere.
        state.routes_file_stamp = file_stamp(config.routes_file)  # before reading: a write meanwhile is read again
        state.registry.replace(load_static_routes(config.routes_file))
        state.registry_loaded = True
        state.metrics.registry_ok.set(1)
    extra_tasks = tuple(background_tasks)

    async def lifecycle(app: web.Application):
        metrics = state.metrics
        state.redis = redis_client(config)
        state.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0, ttl_dns_cache=60,
                                           enable_cleanup_closed=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=config.connect_timeout_s, sock_read=config.read_timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        state.upstream = UpstreamPool(limit=config.max_connections, connect_timeout_s=config.connect_timeout_s,
                                      read_timeout_s=config.read_timeout_s)
        state.recorder = StatsRecorder(
            state.redis, ttl_s=config.stats_ttl_s, max_buffer=config.max_buffer, flush_interval_s=config.flush_interval_s,
            on_drop=lambda reason, n: metrics.records_dropped.labels(reason).inc(n),
            on_redis_error=lambda: metrics.redis_errors.labels("stats_flush").inc())
        state.stats = StatsReader(state.redis)
        state.summaries = WindowCache(state.redis, reads_per_s=config.api_reads_per_s, max_window_s=config.api_max_window_s)
        state.routes = RouteTable(
            state.redis, state.registry.start_variant, reload_interval_s=config.route_reload_interval_s,
            on_change=lambda old, new: metrics.route_changes.labels(new.function, new.variant).inc(),
            on_redis_error=lambda: metrics.redis_errors.labels("route_sync").inc())
        if not config.routes_file:
            await refresh_registry(state)
        state.sizing = Sizing(state.registry, state.recorder, state.stats, state.redis, static_mode=config.mode == "static",
                              body_idle_s=config.body_idle_timeout_s, body_min_rate=config.body_min_rate)
        state.sizing.load_sources()  # the first calls already know which functions are sized
        state.tasks = [asyncio.create_task(state.recorder.run(), name="gaia-recorder"),
                       asyncio.create_task(state.routes.run(), name="gaia-route-sync"),
                       asyncio.create_task(_discovery_loop(state), name="gaia-discovery"),
                       asyncio.create_task(_redis_watch(state), name="gaia-redis-watch"),
                       asyncio.create_task(Prober(state).run(), name="gaia-prober"),
                       asyncio.create_task(state.sizing.run(), name="gaia-sizing")]
        await _wait_for_first_route_load(state)
        state.tasks += [asyncio.create_task(task(app), name=f"gaia-{getattr(task, '__name__', 'task')}") for task in extra_tasks]
        yield
        for task in reversed(state.tasks):
            task.cancel()
        for task in reversed(state.tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("background task %s failed", task.get_name())
        await state.upstream.close()
        await state.client.close()
        await state.redis.aclose()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_routes(api.routes)
    app.router.add_routes(list(api_routes))
    app.router.add_route("*", "/{tail:.*}", Proxy(state).handle)
    return app


async def _wait_for_first_route_load(state: GatewayState, timeout_s: float = 1.0) -> None:
    """Give the route sync a moment to load the stored routes, so the first calls use them; with Redis
    down, start anyway (start variants) and let the sync catch up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not state.routes.connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
