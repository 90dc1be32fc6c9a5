"""`gaia gateway`: run the plugin under gunicorn with aiohttp's worker class (one event loop per worker).

Every flag has an environment variable (shown in --help) so that the Kubernetes manifests need no arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gaia_faas.gateway_plugin.capacity import parse_capacity, routes_file_capacity
from gaia_faas.gateway_plugin.pool import PoolConfig
from gaia_faas.gateway_plugin.registry import BasicAuth, RegistryError, load_static_routes


def _env(name: str, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", default=_env("GAIA_UPSTREAM"),
                        help="OpenFaaS gateway URL, e.g. http://gateway.openfaas:8080 (env GAIA_UPSTREAM); "
                             "with --routes it only serves passthrough")
    parser.add_argument("--routes", default=_env("GAIA_ROUTES_FILE"),
                        help="static routes file (Knative, local runs) instead of OpenFaaS discovery (env GAIA_ROUTES_FILE)")
    parser.add_argument("--redis-url", default=_env("GAIA_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="Redis shared by all replicas (env GAIA_REDIS_URL; default %(default)s)")
    parser.add_argument("--bind", default=_env("GAIA_BIND", "0.0.0.0:8080"),
                        help="address to listen on (env GAIA_BIND; default %(default)s)")
    parser.add_argument("--workers", type=int, default=int(_env("GAIA_WORKERS", "2")),
                        help="worker processes (env GAIA_WORKERS; default %(default)s)")
    parser.add_argument("--api-token-file", default=_env("GAIA_API_TOKEN_FILE"),
                        help="file holding the bearer token for pin/unpin (env GAIA_API_TOKEN_FILE, or the token "
                             "itself in GAIA_API_TOKEN); without one those endpoints answer 403")
    parser.add_argument("--openfaas-user", default=_env("OPENFAAS_USER", "admin"),
                        help="basic-auth user for GET /system/functions (env OPENFAAS_USER; default %(default)s)")
    parser.add_argument("--openfaas-password-file", default=_env("OPENFAAS_PASSWORD_FILE"),
                        help="file holding the basic-auth password (env OPENFAAS_PASSWORD_FILE, or the password "
                             "itself in OPENFAAS_PASSWORD)")
    parser.add_argument("--discovery-interval", type=float, default=float(_env("GAIA_DISCOVERY_INTERVAL", "10")),
                        help="seconds between function discoveries or routes-file reloads (default %(default)s)")
    parser.add_argument("--stats-ttl", type=int, default=int(_env("GAIA_STATS_TTL", "3600")),
                        help="seconds latency buckets stay in Redis (default %(default)s)")
    parser.add_argument("--read-timeout", type=float, default=float(_env("GAIA_READ_TIMEOUT", "300")),
                        help="seconds to wait for the next bytes of an upstream answer (default %(default)s)")
    parser.add_argument("--retry-after", type=float, default=float(_env("GAIA_RETRY_AFTER", "1")),
                        help="seconds a failing variant stays out of rotation before it is probed (default %(default)s)")
    parser.add_argument("--redis-timeout", type=float, default=float(_env("GAIA_REDIS_TIMEOUT", "2")),
                        help="seconds one Redis command (and the Redis work of one API call) may take "
                             "(env GAIA_REDIS_TIMEOUT; default %(default)s)")
    parser.add_argument("--probe-path", default=_env("GAIA_PROBE_PATH", "/_/health"),
                        help="path the plugin's own probe calls on an out-of-rotation variant; a 2xx puts it back "
                             "(env GAIA_PROBE_PATH; default %(default)s)")
    parser.add_argument("--max-header-bytes", type=int, default=int(_env("GAIA_MAX_HEADER_BYTES", "32768")),
                        help="largest header block of a request, all lines together; larger gets 431 "
                             "(env GAIA_MAX_HEADER_BYTES; default %(default)s)")
    parser.add_argument("--max-headers", type=int, default=int(_env("GAIA_MAX_HEADERS", "100")),
                        help="most header lines in a request (env GAIA_MAX_HEADERS; default %(default)s)")
    parser.add_argument("--body-timeout", type=float, default=float(_env("GAIA_BODY_TIMEOUT", "10")),
                        help="longest pause, in seconds, in a client's request body; a stalled call gets 408 "
                             "(env GAIA_BODY_TIMEOUT; default %(default)s)")
    parser.add_argument("--body-min-rate", type=float, default=float(_env("GAIA_BODY_MIN_RATE", "1024")),
                        help="bytes/s a request body must average after its first --body-timeout seconds; 0 is off "
                             "(env GAIA_BODY_MIN_RATE; default %(default)s)")
    parser.add_argument("--api-max-window", type=int, default=int(_env("GAIA_API_MAX_WINDOW", "3600")),
                        help="longest stats window (seconds) GET /gaia/v1/functions answers "
                             "(env GAIA_API_MAX_WINDOW; default %(default)s)")
    parser.add_argument("--api-read-rate", type=float, default=float(_env("GAIA_API_READ_RATE", "1000")),
                        help="Redis hashes per second per worker the API may read for stats (paced) "
                             "(env GAIA_API_READ_RATE; default %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction,
                        default=_env("GAIA_ACCESS_LOG", "0").lower() in ("1", "true", "yes", "on"),
                        help="log one JSON line per request on the gaia.access logger (env GAIA_ACCESS_LOG; "
                             "default off)")
    parser.add_argument("--log-level", default=_env("GAIA_LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"])
    parser.add_argument("--controller", action=argparse.BooleanOptionalAction,
                        default=_env("GAIA_CONTROLLER", "1").lower() not in ("0", "false", "no", "off"),
                        help="run the controller in this replica (only the lease holder acts; env GAIA_CONTROLLER; "
                             "default on)")
    parser.add_argument("--leader-ttl", type=float, default=float(_env("GAIA_LEADER_TTL", "5")),
                        help="seconds the controller's leader lease lasts without renewal (default %(default)s)")
    parser.add_argument("--warmup-path", default=_env("GAIA_WARMUP_PATH", "/_/health"),
                        help="path the controller calls on a variant to see that it answers before switching to it "
                             "(default %(default)s)")
    parser.add_argument("--gpu-capacity", default=_env("GAIA_GPU_CAPACITY"),
                        help="GPU replicas the controller may hold at once over all functions (env GAIA_GPU_CAPACITY; "
                             "default: the routes file's gpu_capacity, else the cluster's allocatable GPUs, else "
                             "unlimited; with both a setting and the cluster's count, the lower one)")
    parser.add_argument("--gpu-capacity-from-cluster", action=argparse.BooleanOptionalAction,
                        default=_env("GAIA_GPU_CAPACITY_FROM_CLUSTER", "1").lower() not in ("0", "false", "no", "off"),
                        help="in a Kubernetes pod, count the nodes' allocatable GPUs (needs get/list on nodes; env "
                             "GAIA_GPU_CAPACITY_FROM_CLUSTER; default on)")
    parser.add_argument("--gpu-resource", default=_env("GAIA_GPU_RESOURCE", "nvidia.com/gpu"),
                        help="the node resource that counts as a GPU (env GAIA_GPU_RESOURCE; default %(default)s)")
    parser.add_argument("--gpu-preempt-ratio", type=float, default=float(_env("GAIA_GPU_PREEMPT_RATIO", "2")),
                        help="a function waiting for a GPU preempts a holder only with this many times its benefit "
                             "(env GAIA_GPU_PREEMPT_RATIO; default %(default)s)")
    parser.add_argument("--gpu-min-dwell", type=float, default=float(_env("GAIA_GPU_MIN_DWELL", "60")),
                        help="seconds a function keeps a GPU before it can be preempted (env GAIA_GPU_MIN_DWELL; "
                             "default %(default)s)")
    parser.add_argument("--gpu-release-grace", type=float, default=float(_env("GAIA_GPU_RELEASE_GRACE", "30")),
                        help="seconds a released GPU still counts as held while its pod terminates (Kubernetes' "
                             "terminationGracePeriodSeconds; env GAIA_GPU_RELEASE_GRACE; default %(default)s)")


def _read_secret(path: str | None, env_value: str | None, what: str) -> str | None:
    """The secret in ``path`` (or ``env_value``), without the trailing newline editors and `echo` add."""
    if path:
        try:
            value = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from exc
    else:
        value = env_value
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError(f"the {what} is empty" + (f" (file {path})" if path else ""))
    return value


def build_config(args: argparse.Namespace):
    from gaia_faas.gateway_plugin.app import GatewayConfig
    from gaia_faas.gateway_plugin.server import ServerLimits

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if not args.leader_ttl > 0:
        raise ValueError("--leader-ttl must be positive")
    password = _read_secret(args.openfaas_password_file, _env("OPENFAAS_PASSWORD"), "OpenFaaS password")
    gpu_capacity = None if args.gpu_capacity is None else parse_capacity(args.gpu_capacity, "--gpu-capacity")
    pool = PoolConfig(preempt_ratio=args.gpu_preempt_ratio, min_dwell_s=args.gpu_min_dwell,
                      release_grace_s=args.gpu_release_grace)
    pool.check()
    config = GatewayConfig(
        redis_url=args.redis_url, upstream_url=args.upstream, routes_file=args.routes,
        api_token=_read_secret(args.api_token_file, _env("GAIA_API_TOKEN"), "API token"),
        basic_auth=BasicAuth(args.openfaas_user, password) if password else None,
        discovery_interval_s=args.discovery_interval, stats_ttl_s=args.stats_ttl,
        # Routes converge across replicas (e.g. after Redis lost its data) within one discovery interval:
        # the full reload runs twice per interval.
        route_reload_interval_s=min(5.0, args.discovery_interval / 2),
        read_timeout_s=args.read_timeout, retry_after_s=args.retry_after, redis_timeout_s=args.redis_timeout,
        probe_path=args.probe_path, body_idle_timeout_s=args.body_timeout, body_min_rate=args.body_min_rate,
        api_max_window_s=args.api_max_window, api_reads_per_s=args.api_read_rate,
        gpu_capacity=gpu_capacity, gpu_capacity_from_cluster=args.gpu_capacity_from_cluster,
        gpu_resource=args.gpu_resource, pool=pool,
        server=ServerLimits(max_header_bytes=args.max_header_bytes, max_headers=args.max_headers,
                            access_log=args.access_log),
    )
    config.check()
    if config.routes_file:
        load_static_routes(config.routes_file)  # a broken file stops here, with its message, not in a worker
        routes_file_capacity(config.routes_file)
    return config


def run(args: argparse.Namespace) -> int:
    # Must be set before prometheus_client is imported (build_config imports the app, which imports it).
    metrics_dir = tempfile.mkdtemp(prefix="gaia-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    arbiter_pid = os.getpid()
    try:
        try:
            config = build_config(args)
        except (ValueError, RegistryError) as exc:
            print(f"gaia gateway: {exc}", file=sys.stderr)
            return 2
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return _serve(config, args)
    finally:
        if os.getpid() == arbiter_pid:  # workers leave through here too when they exit; only the arbiter cleans up
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(config, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    def child_exit(server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    from gaia_faas.gateway_plugin.server import runner, tune_gc, worker_class

    async def app_factory():
        from gaia_faas.gateway_plugin.app import create_app
        from gaia_faas.gateway_plugin.controller import ControllerOptions, api_routes, controller_task

        tune_gc()  # in the worker (after the fork), once everything it runs is imported

        tasks = [controller_task(ControllerOptions(leader_ttl_s=args.leader_ttl, warmup_path=args.warmup_path))] \
            if args.controller else []
        return runner(create_app(config, background_tasks=tasks, api_routes=api_routes), config.server)

    options = {
        "bind": args.bind,
        "workers": args.workers,
        "worker_class": worker_class(),
        "keepalive": 75,
        "graceful_timeout": 10,
        "loglevel": args.log_level,
        # Several gunicorns on one host (tests, local runs) would fight over the default control socket.
        "control_socket_disable": True,
        "child_exit": child_exit,
    }

    class GatewayServer(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app_factory

    GatewayServer().run()
    return 0
