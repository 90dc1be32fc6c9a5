"""Prometheus metrics of the plugin (served on /metrics).

Under gunicorn with several workers, `gaia gateway` sets PROMETHEUS_MULTIPROC_DIR before anything imports
prometheus_client, so every worker writes its values to shared files and any worker's /metrics shows the
sum of all of them. In a single process (tests, one worker) each app gets its own registry.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds; GPU inference can take tens of seconds, hence the long tail (gateway buckets stop at 10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("gaia_requests", "Calls to managed functions by variant and status code",
                                ["function", "variant", "code"], registry=r)
        self.latency = Histogram("gaia_request_duration_seconds", "Latency of calls to managed functions",
                                 ["function", "variant"], buckets=LATENCY_BUCKETS, registry=r)
        self.passthrough = Counter("gaia_passthrough_requests", "Requests passed to the upstream unchanged",
                                   ["code"], registry=r)
        self.route_changes = Counter("gaia_route_changes", "Route changes applied by this replica",
                                     ["function", "variant"], registry=r)
        self.platform_faults = Counter("gaia_platform_faults", "Variants failing as a platform (refused, 502, provider 5xx)",
                                       ["function", "variant"], registry=r)
        self.failovers = Counter("gaia_failovers", "Calls sent to the other variant because the routed one was out of rotation",
                                 ["function", "from_variant"], registry=r)
        self.redis_errors = Counter("gaia_redis_errors", "Failed Redis operations", ["operation"], registry=r)
        self.records_dropped = Counter("gaia_records_dropped", "Latency records dropped, never written to Redis",
                                       ["reason"], registry=r)
        self._call_children: dict[tuple[str, str, int], tuple] = {}
        self.rejected = Counter("gaia_rejected_requests", "Requests refused before routing (bad names, paths, "
                                "methods, versions; stalled or broken bodies)", ["reason"], registry=r)
        self.discovery_failures = Counter("gaia_discovery_failures", "Function discoveries (or routes-file reloads) that failed",
                                          registry=r)
        # Gauges: the lowest (or highest) value over the live workers, so one failing worker shows.
        self.registry_ok = Gauge("gaia_registry_ok", "1 when the last discovery (or routes-file load) succeeded",
                                 registry=r, multiprocess_mode="livemin")
        self.registry_conflicts = Gauge("gaia_registry_conflicts", "Function variants claimed by several services (not routed)",
                                        registry=r, multiprocess_mode="livemax")
        self.redis_up = Gauge("gaia_redis_up", "1 when Redis answered the last health ping", registry=r,
                              multiprocess_mode="livemin")
        self.probes = Counter("gaia_probes", "Health probes of out-of-rotation variants", ["function", "variant", "result"],
                              registry=r)
        self.api_throttled = Counter("gaia_api_throttled", "API stats requests refused with 429 (too many waiting)",
                                     registry=r)

    def call_done(self, function: str, variant: str, status: int, seconds: float) -> None:
        """Count and time one call (hot path: the labelled children are looked up once and kept)."""
        key = (function, variant, status)
        children = self._call_children.get(key)
        if children is None:
            children = self._call_children[key] = (self.requests.labels(function, variant, str(status)),
                                                   self.latency.labels(function, variant))
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
