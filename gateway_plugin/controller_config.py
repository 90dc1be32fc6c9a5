"""Per-function controller configuration from the ``com.gaia.*`` annotations (see docs/controller.md).

``ControllerConfig.from_annotations`` is pure and strict: a malformed value raises ``ConfigError`` naming
the annotation and what it accepts, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property

MODES = ("cpu", "cpu_preferred", "gpu_preferred", "gpu")
PLATFORMS = ("ce", "pro", "knative")
PREFIX = "com.gaia."


class ConfigError(ValueError):
    """An annotation has a value the controller cannot use."""


@dataclass(frozen=True)
class ControllerConfig:
    mode: str = "cpu_preferred"
    platform: str = "pro"  # what the platform lets us release: ce nothing, pro at once, knative after its stable window
    slo_percentile: float = 95.0
    slo_ms: float | None = None
    price_cpu: float = 0.000038  # per second of a provisioned replica (the research prototype's figures)
    price_gpu: float = 0.000133
    interval_s: float = 1.0  # how often the controller evaluates the function
    window_s: float = 10.0  # the stats window each evaluation looks at
    min_samples: int = 3  # slow requests needed for a violation; requests needed to verify a switch
    sustain_s: float = 2.0  # a violation must last this long before we promote
    verify_s: float = 2.0  # at least this long after a switch before it is judged
    verify_samples: int = 2  # requests the new variant must have served before it is judged
    gpu_margin: float = 0.2  # the GPU must beat the CPU's level by this share, or we demote
    cpu_headroom: float = 0.2  # gpu_preferred demotes when the CPU met the SLO with this share to spare
    explore_rate_per_s: float = 0.1  # gpu_preferred with an unknown CPU tries it below this request rate
    backoff_s: float = 600.0  # after a failed GPU attempt; doubles with each further failure
    backoff_max_s: float = 4 * 3600.0
    retry_growth: float = 1.5  # retry the GPU sooner once the CPU latency grew this many times
    cooldown_s: float = 10.0  # minimum time between switches (verification outcomes excepted)
    max_switches_per_hour: int = 6
    idle_demote_s: float = 10.0  # idle never before this long without a request, however busy the function was
    scale_down_after_s: float = 5.0  # probation: the old variant is released after the new one served well this long
    warmup_timeout_s: float = 60.0  # least time the actuator waits for a scaled-up variant (2x its observed start)
    warmup_timeout_max_s: float = 600.0  # most time it waits, however slow the variant was seen to start
    warmup_retry_s: float = 30.0  # after a failed warm-up, wait this long before trying again (doubles)
    error_rate: float = 0.2  # share of failed requests (5xx, no answer) that marks a variant as failing
    error_min: int = 3  # failed requests needed before a variant is failing
    error_backoff_s: float = 300.0  # a failing variant is tried again after this long (doubles per failure)
    violation_cost: float = 0.1  # what one violation beyond the SLO's allowance is worth, in the prices' unit
    payback_s: float = 600.0  # one-off switch costs (warm-up, release delay) are spread over this long
    release_delay_s: float = 60.0  # knative: how long a released variant stays billed (the stable window)
    horizon_requests: int = 1000  # memory of the per-rate latency knowledge, in requests
    knowledge_ttl_s: float = 7200.0  # older knowledge of a variant is stale: explore instead of trusting it
    explore_backoff_s: float = 300.0  # after a failed CPU trial, wait this long before another (doubles)
    idle_gaps: float = 10.0  # idle = no request for this many of the function's own typical gaps
    capacity_retry_s: float = 10.0  # a promotion refused for lack of GPU capacity is asked again after this

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str] | None) -> "ControllerConfig":
        annotations = annotations or {}
        values: dict = {}
        for spec in fields(cls):
            annotation = ANNOTATIONS[spec.name]
            raw = annotations.get(annotation)
            if raw is None or str(raw).strip() == "":
                continue
            values[spec.name] = _parse(spec.name, annotation, str(raw).strip())
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Cross-field rules (each field alone is checked while parsing)."""
        if self.backoff_max_s < self.backoff_s:
            raise ConfigError(f"{ANNOTATIONS['backoff_max_s']} ({self.backoff_max_s:g}) must be at least "
                              f"{ANNOTATIONS['backoff_s']} ({self.backoff_s:g})")
        if self.max_switches_per_hour < 3:
            raise ConfigError(f"{ANNOTATIONS['max_switches_per_hour']} must be at least 3 (a demotion keeps room "
                              "for a promotion and its way back)")
        if self.warmup_timeout_max_s < self.warmup_timeout_s:
            raise ConfigError(f"{ANNOTATIONS['warmup_timeout_max_s']} ({self.warmup_timeout_max_s:g}) must be at "
                              f"least {ANNOTATIONS['warmup_timeout_s']} ({self.warmup_timeout_s:g})")

    @cached_property  # the policy asks a dozen times per evaluation
    def allowed_share(self) -> float:
        """The share of requests the SLO allows above ``slo_ms`` (5% for a p95)."""
        return max(1e-3, 1.0 - self.slo_percentile / 100.0)


# field -> annotation name
ANNOTATIONS = {
    "mode": "com.gaia.mode",
    "platform": "com.gaia.platform",
    "slo_percentile": "com.gaia.slo-percentile",
    "slo_ms": "com.gaia.slo-ms",
    "price_cpu": "com.gaia.price-cpu",
    "price_gpu": "com.gaia.price-gpu",
    "interval_s": "com.gaia.interval-seconds",
    "window_s": "com.gaia.window-seconds",
    "min_samples": "com.gaia.min-samples",
    "sustain_s": "com.gaia.sustain-seconds",
    "verify_s": "com.gaia.verify-seconds",
    "verify_samples": "com.gaia.verify-samples",
    "gpu_margin": "com.gaia.gpu-margin",
    "cpu_headroom": "com.gaia.cpu-headroom",
    "explore_rate_per_s": "com.gaia.explore-rate",
    "backoff_s": "com.gaia.backoff-seconds",
    "backoff_max_s": "com.gaia.backoff-max-seconds",
    "retry_growth": "com.gaia.retry-growth",
    "cooldown_s": "com.gaia.cooldown-seconds",
    "max_switches_per_hour": "com.gaia.max-switches-per-hour",
    "idle_demote_s": "com.gaia.idle-demote-seconds",
    "scale_down_after_s": "com.gaia.scale-down-after-seconds",
    "warmup_timeout_s": "com.gaia.warmup-timeout-seconds",
    "warmup_timeout_max_s": "com.gaia.warmup-timeout-max-seconds",
    "warmup_retry_s": "com.gaia.warmup-retry-seconds",
    "error_rate": "com.gaia.error-rate",
    "error_min": "com.gaia.error-min",
    "error_backoff_s": "com.gaia.error-backoff-seconds",
    "violation_cost": "com.gaia.violation-cost",
    "payback_s": "com.gaia.payback-seconds",
    "release_delay_s": "com.gaia.release-delay-seconds",
    "horizon_requests": "com.gaia.horizon-requests",
    "knowledge_ttl_s": "com.gaia.knowledge-ttl-seconds",
    "explore_backoff_s": "com.gaia.explore-backoff-seconds",
    "idle_gaps": "com.gaia.idle-gaps",
    "capacity_retry_s": "com.gaia.capacity-retry-seconds",
}

# field -> (lowest allowed, highest allowed, lower bound inclusive?)
_RANGES = {
    "slo_percentile": (0.0, 100.0, False),
    "slo_ms": (0.0, math.inf, False),
    "price_cpu": (0.0, math.inf, True),
    "price_gpu": (0.0, math.inf, True),
    "interval_s": (0.0, 3600.0, False),
    "window_s": (1.0, 3600.0, True),
    "min_samples": (1, 1_000_000, True),
    "sustain_s": (0.0, 3600.0, True),
    "verify_s": (0.0, 3600.0, True),
    "verify_samples": (1, 1_000_000, True),
    "gpu_margin": (0.0, 0.95, True),
    "cpu_headroom": (0.0, 0.95, True),
    "explore_rate_per_s": (0.0, math.inf, True),
    "backoff_s": (0.0, 30 * 86400.0, True),
    "backoff_max_s": (0.0, 30 * 86400.0, True),
    "retry_growth": (1.0, 1000.0, True),
    "cooldown_s": (0.0, 86400.0, True),
    "max_switches_per_hour": (3, 3600, True),
    "idle_demote_s": (0.0, 30 * 86400.0, False),
    "scale_down_after_s": (0.0, 86400.0, True),
    "warmup_timeout_s": (0.0, 3600.0, False),
    "warmup_timeout_max_s": (0.0, 3600.0, False),
    "warmup_retry_s": (0.0, 86400.0, True),
    "error_rate": (0.0, 1.0, False),
    "error_min": (1, 1_000_000, True),
    "error_backoff_s": (0.0, 30 * 86400.0, True),
    "violation_cost": (0.0, math.inf, True),
    "payback_s": (1.0, 30 * 86400.0, True),
    "release_delay_s": (0.0, 86400.0, True),
    "horizon_requests": (10, 1_000_000, True),
    "knowledge_ttl_s": (1.0, 30 * 86400.0, True),
    "explore_backoff_s": (0.0, 30 * 86400.0, True),
    "idle_gaps": (1.0, 1000.0, True),
    "capacity_retry_s": (0.0, 86400.0, True),
}


def _parse(name: str, annotation: str, raw: str):
    if name in ("mode", "platform"):
        choices = MODES if name == "mode" else PLATFORMS
        if raw not in choices:
            raise ConfigError(f"{annotation}: {raw!r} is not one of {', '.join(choices)}")
        return raw
    integer = name in ("min_samples", "verify_samples", "max_switches_per_hour", "error_min", "horizon_requests")
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{annotation}: {raw!r} is not {kind}") from None
    low, high, low_inclusive = _RANGES[name]
    if not math.isfinite(value) or value > high or value < low or (value == low and not low_inclusive):
        bound = f"{'at least' if low_inclusive else 'above'} {low:g}"
        if math.isfinite(high):
            bound += f" and at most {high:g}"
        raise ConfigError(f"{annotation}: {raw} is out of range (must be {bound})")
    return value
