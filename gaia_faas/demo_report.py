"""What `gaia demo` reports: a summary per function and a timeline plot, from recorded requests and decisions.

Pure functions of the records (plus the plot file). Times are seconds since the demo started.
Cost model: both variants stay up during a local run, so a function's cost counts the time each variant
held the route (from the start variant and the controller's decisions) at that variant's price per second,
the way the research prototype costs the deployment that is serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PRICES = {"cpu": 0.000038, "gpu": 0.000133}


@dataclass(frozen=True)
class RequestRecord:
    function: str
    start: float  # seconds since the demo started
    latency_ms: float
    status: int  # HTTP status; 0 when no response arrived
    variant: str  # X-Gaia-Variant of the response ('' when none)
    param: str = ""  # what the request asked for, e.g. the matrix size

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Decision:
    time: float  # seconds since the demo started
    function: str
    from_variant: str
    to_variant: str
    reason: str


@dataclass
class FunctionSummary:
    function: str
    requests: int
    errors: int
    mean_ms: float
    p95_ms: float
    variant_seconds: dict[str, float] = field(default_factory=dict)
    variant_requests: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    decisions: int = 0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def route_segments(start_variant: str, decisions: list[Decision], end: float) -> list[tuple[float, float, str]]:
    """(from, to, variant) stretches during which ``variant`` held the route, from t=0 to ``end``."""
    segments = []
    current, since = start_variant, 0.0
    for decision in sorted(decisions, key=lambda d: d.time):
        at = min(max(decision.time, 0.0), end)
        if at > since:
            segments.append((since, at, current))
        current, since = decision.to_variant, at
    if end > since:
        segments.append((since, end, current))
    return segments


def summarise(
    records: list[RequestRecord],
    decisions: list[Decision],
    start_variants: dict[str, str],
    prices: dict[str, dict[str, float]],
    duration: float,
) -> list[FunctionSummary]:
    """One summary per function in ``start_variants`` (the functions the demo drove), in that order."""
    summaries = []
    for function, start_variant in start_variants.items():
        own = [r for r in records if r.function == function]
        latencies = [r.latency_ms for r in own if r.ok]
        own_decisions = [d for d in decisions if d.function == function]
        seconds: dict[str, float] = {}
        for begin, end, variant in route_segments(start_variant, own_decisions, duration):
            seconds[variant] = seconds.get(variant, 0.0) + end - begin
        function_prices = {**DEFAULT_PRICES, **prices.get(function, {})}
        served: dict[str, int] = {}
        for record in own:
            if record.ok:
                served[record.variant] = served.get(record.variant, 0) + 1
        summaries.append(
            FunctionSummary(
                function=function,
                requests=len(own),
                errors=sum(1 for r in own if not r.ok),
                mean_ms=sum(latencies) / len(latencies) if latencies else math.nan,
                p95_ms=percentile(latencies, 95),
                variant_seconds=seconds,
                variant_requests=served,
                cost=sum(s * function_prices.get(v, 0.0) for v, s in seconds.items()),
                decisions=len(own_decisions),
            )
        )
    return summaries


def format_table(summaries: list[FunctionSummary]) -> str:
    headers = ["function", "requests", "errors", "mean ms", "p95 ms", "cpu s (req)", "gpu s (req)", "cost", "decisions"]
    rows = []
    for s in summaries:
        rows.append(
            [
                s.function,
                str(s.requests),
                str(s.errors),
                _ms(s.mean_ms),
                _ms(s.p95_ms),
                f"{s.variant_seconds.get('cpu', 0.0):.0f} ({s.variant_requests.get('cpu', 0)})",
                f"{s.variant_seconds.get('gpu', 0.0):.0f} ({s.variant_requests.get('gpu', 0)})",
                f"{s.cost:.5f}",
                str(s.decisions),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


VARIANT_COLOURS = {"cpu": "tab:blue", "gpu": "tab:green"}


def plot_timeline(
    records: list[RequestRecord],
    decisions: list[Decision],
    start_variants: dict[str, str],
    slo_ms: dict[str, float],
    duration: float,
    path: Path,
) -> Path:
    """Latency per request over time, one panel per function, route variant shaded, decisions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    functions = list(start_variants)
    fig, axes = plt.subplots(len(functions), 1, figsize=(11.5, 2.6 * len(functions)), sharex=True, squeeze=False)
    for ax, function in zip(axes[:, 0], functions):
        own_decisions = [d for d in decisions if d.function == function]
        for begin, end, variant in route_segments(start_variants[function], own_decisions, duration):
            ax.axvspan(begin, end, color=VARIANT_COLOURS.get(variant, "grey"), alpha=0.08, linewidth=0)
        for variant, colour in VARIANT_COLOURS.items():
            points = [r for r in records if r.function == function and r.ok and r.variant == variant]
            if points:
                ax.scatter([r.start for r in points], [r.latency_ms for r in points], s=8, color=colour, label=f"served by {variant}")
        failed = [r for r in records if r.function == function and not r.ok]
        if failed:
            ax.scatter([r.start for r in failed], [r.latency_ms for r in failed], s=14, marker="x", color="tab:red", label="failed")
        if function in slo_ms:
            ax.axhline(slo_ms[function], color="tab:red", linestyle="--", linewidth=1, label=f"SLO {slo_ms[function]:.0f} ms")
        for decision in own_decisions:
            ax.axvline(decision.time, color="black", linewidth=1)
            ax.annotate(
                f"→ {decision.to_variant}", (decision.time, 1), xycoords=("data", "axes fraction"),
                xytext=(3, -12), textcoords="offset points", fontsize=8,
            )
        highest = max([r.latency_ms for r in records if r.function == function] + [slo_ms.get(function, 0.0), 1.0])
        ax.set_ylim(0, highest * 1.3)  # room above the points for the decision labels
        ax.set_title(function, loc="left", fontsize=10)
        ax.set_ylabel("latency ms")
        ax.set_xlim(0, max(duration, 1.0))
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, borderaxespad=0)
    axes[-1, 0].set_xlabel("seconds since start (shading: variant holding the route)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
