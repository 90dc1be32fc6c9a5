"""Per-function controller configuration from the ``com.gaia.*`` annotations (see docs/controller.md).

``ControllerConfig.from_annotations`` is pure and strict: a malformed value raises ``ConfigError`` naming
the annotation and what it accepts, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

MODES = ("cpu", "cpu_preferred", "gpu_preferred", "gpu")
PREFIX = "com.gaia."


class ConfigError(ValueError):
    """An annotation has a value the controller cannot use."""


@dataclass(frozen=True)
class ControllerConfig:
    mode: str = "cpu_preferred"
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
    idle_demote_s: float = 300.0  # a preferred-mode function idle this long on the GPU goes back to CPU
    scale_down_after_s: float = 5.0  # probation: the old variant is released after the new one served well this long
    warmup_timeout_s: float = 60.0  # how long the actuator waits for a scaled-up variant to answer
    warmup_retry_s: float = 30.0  # after a failed warm-up, wait this long before trying again

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
        if self.max_switches_per_hour < 2:
            raise ConfigError(f"{ANNOTATIONS['max_switches_per_hour']} must be at least 2 (a switch and its way back)")


# field -> annotation name
ANNOTATIONS = {
    "mode": "com.gaia.mode",
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
    "warmup_retry_s": "com.gaia.warmup-retry-seconds",
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
    "max_switches_per_hour": (2, 3600, True),
    "idle_demote_s": (0.0, 30 * 86400.0, False),
    "scale_down_after_s": (0.0, 86400.0, True),
    "warmup_timeout_s": (0.0, 3600.0, False),
    "warmup_retry_s": (0.0, 86400.0, True),
}


def _parse(name: str, annotation: str, raw: str):
    if name == "mode":
        if raw not in MODES:
            raise ConfigError(f"{annotation}: {raw!r} is not one of {', '.join(MODES)}")
        return raw
    integer = name in ("min_samples", "verify_samples", "max_switches_per_hour")
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
