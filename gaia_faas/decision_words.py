"""A controller decision (an entry of GET /gaia/v1/decisions) in words a newcomer follows.

Two lines: what happened and why, then the numbers the decision was made on, as the decision log has them.
Pure: no I/O. Reasons and number names this module does not know are shown as they are, never dropped, so a
controller that learns new ones still gets truthful (if terser) lines.
"""

from __future__ import annotations

import math

VARIANTS = ("cpu", "gpu")
WHY = {
    "cpu-violates-slo": "the CPU variant kept missing the SLO",
    "cpu-violation-not-confident": "the CPU variant may be missing the SLO, but not surely yet",
    "gpu-does-not-help": "after the switch the GPU was not clearly better",
    "gpu-fails-verification": "after the switch the GPU did not meet the bar it had to meet",
    "gpu-no-longer-better": "the GPU is no longer better than the CPU",
    "gpu-not-worth-its-cost": "the GPU's gain is not worth its price at this request rate",
    "cpu-meets-slo": "the CPU is known to meet the SLO",
    "cpu-meets-slo-at-this-rate": "the CPU is known to meet the SLO at this request rate",
    "cpu-misses-slo-after-demotion": "back on the CPU, the SLO was missed again",
    "explore-cpu": "traffic is low: trying the CPU to learn whether it meets the SLO",
    "low-rate-try-cpu": "traffic is low: trying the CPU to learn whether it meets the SLO",
    "gpu-idle": "no traffic for a while: the GPU is given back",
    "cpu-failing": "the CPU variant is failing requests",
    "gpu-failing": "the GPU variant is failing requests",
    "both-variants-failing": "both variants are failing requests",
    "cpu-verified": "the CPU kept the SLO after the switch, so the GPU is no longer needed",
    "gpu-verified": "the GPU kept the SLO after the switch, so the CPU standby is no longer needed",
    "standby-kept-long-enough": "the standby variant was kept long enough",
    "released-with-switch": "released together with the switch",
    "switch-budget-exhausted": "the function already switched as often as allowed this hour",
}
# Numbers that are not per-variant window figures: how to say them. Unknown names fall back to _generic.
EXTRA = {
    "since_switch_s": lambda v: f"{v:.3g} s since the switch",
    "violation_s": lambda v: f"the SLO has been missed for {v:.3g} s",
    "slow_requests": lambda v: f"{v} slow requests in that time",
    "warmup_s": lambda v: f"the target answered its warm-up in {v:.2g} s",
    "previous_level_ms": lambda v: f"the variant before the switch ran at {v:.0f} ms",
    "gpu_median_ms": lambda v: f"GPU median {v:.0f} ms",
    "bar_ms": lambda v: f"the GPU had to be under {v:.0f} ms",
    "bar_share": lambda v: f"at most {v:.0%} of requests may miss the SLO",
    "stint_share_low": lambda v: f"the share over the SLO is at least {v:.0%} (lower confidence bound)",
    "backoff_s": lambda v: f"next GPU try in {v:g} s at the earliest",
    "retry_in_s": lambda v: f"retry in {v:g} s",
}
SKIPPED = {"slo_ms", "slo_percentile", "platform", "stint_requests", "stint_violations"}


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.3g}"


def _generic(name: str, value) -> str:
    for suffix, unit in (("_ms", " ms"), ("_s", " s"), ("_rate", "/s")):
        if name.endswith(suffix) and isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{name[: -len(suffix)].replace('_', ' ')} {_number(value)}{unit}"
    if name.endswith("_share") and isinstance(value, (int, float)):
        return f"{name[: -len('_share')].replace('_', ' ')} {value:.0%}"
    return f"{name.replace('_', ' ')} {_number(value)}"


def variant_figures(numbers: dict, variant: str) -> str | None:
    """'cpu: p95 1810 ms over 12 requests, 9 over the SLO' from the decision's numbers (None if absent)."""
    count = numbers.get(f"{variant}_count")
    latency = numbers.get(f"{variant}_p_ms")
    if count is None and latency is None:
        return None
    if not count:
        return f"{variant}: no requests in the window"
    pct = numbers.get("slo_percentile") or 95
    text = f"{variant}: p{pct:g} {_number(latency) if latency is not None else '-'} ms over {count} request{'s' * (count != 1)}"
    over = numbers.get(f"{variant}_violations", numbers.get(f"{variant}_slow"))
    details = []
    if over is not None:
        details.append(f"{over} over the SLO")
    errors = numbers.get(f"{variant}_errors")
    if errors:
        details.append(f"{errors} failed")
    rate = numbers.get(f"{variant}_rate")
    if rate:
        details.append(f"{rate:.2g} req/s")
    return text + (f" ({', '.join(details)})" if details else "")


def numbers_in_words(numbers: dict) -> str:
    parts = []
    slo = numbers.get("slo_ms")
    if slo is not None:
        parts.append(f"SLO p{numbers.get('slo_percentile') or 95:g} under {_number(slo)} ms")
    parts += [text for variant in VARIANTS if (text := variant_figures(numbers, variant))]
    if "stint_requests" in numbers:
        parts.append(f"{numbers['stint_requests']} requests since the switch, "
                     f"{numbers.get('stint_violations', 0)} of them over the SLO")
    per_variant = {f"{v}_{k}" for v in VARIANTS for k in ("count", "p_ms", "violations", "slow", "errors", "rate")}
    for name, value in numbers.items():
        if name in SKIPPED or name in per_variant or value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if name == "detail":  # a sentence already
            parts.append(str(value))
            continue
        parts.append(EXTRA[name](value) if name in EXTRA and isinstance(value, (int, float)) else _generic(name, value))
    return "; ".join(parts)


def describe(entry: dict, started_wall: float) -> str:
    """Two lines for one decision: what and why, then the numbers (indented)."""
    at = float(entry["time"]) - started_wall
    action = entry.get("action", "")
    source, target = entry.get("from") or "?", entry.get("to") or "?"
    if action == "switch":
        what = f"route {source} -> {target}"
    elif action == "scale_down":
        what = f"release the {source} variant"
    elif action == "warmup_failed":
        what = f"{target} did not answer its warm-up, route stays on {source}"
    elif action == "switch_refused":
        what = f"switch {source} -> {target} refused"
    else:
        what = f"{action} {source} -> {target}"
    reason = entry.get("reason", "")
    why = WHY.get(reason)
    headline = f"[{at:5.0f}s] DECISION {entry['function']}: {what}, because {why} ({reason})" if why else \
        f"[{at:5.0f}s] DECISION {entry['function']}: {what} ({reason})"
    numbers = numbers_in_words(entry.get("numbers") or {})
    return headline + (f"\n         decided on: {numbers}" if numbers else "")
