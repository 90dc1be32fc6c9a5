"""What `gaia demo` reports: a summary per function and a timeline plot, from recorded requests and decisions.

Pure functions of the records (plus the plot file). Times are seconds since the demo started.
Cost model: both variants stay up during a local run, so a function's cost counts the time each variant
held the route (from the start variant and the controller's decisions) at that variant's price per second,
the way the research prototype costs the deployment that is serving. Prices are in US dollars per
replica-second (com.gaia.price-*; the defaults are the research prototype's).
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
    cost: float = 0.0  # US dollars
    decisions: int = 0
    slo_ms: float | None = None
    over_slo: float = math.nan  # share of requests slower than the SLO or failed
    worst_p95_ms: float = math.nan  # the highest p95 of any 10 s stretch of the run


WORST_WINDOW_S = 10.0


def worst_window_p95(records: list[RequestRecord], window_s: float = WORST_WINDOW_S) -> float:
    """The highest p95 over consecutive ``window_s`` stretches (failed requests left out; NaN for none)."""
    stretches: dict[int, list[float]] = {}
    for record in records:
        if record.ok:
            stretches.setdefault(int(record.start // window_s), []).append(record.latency_ms)
    return max((percentile(values, 95) for values in stretches.values()), default=math.nan)


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
    slo_ms: dict[str, float] | None = None,
) -> list[FunctionSummary]:
    """One summary per function in ``start_variants`` (the functions the demo drove), in that order."""
    slo_ms = slo_ms or {}
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
                slo_ms=slo_ms.get(function),
                over_slo=(sum(1 for r in own if not r.ok or r.latency_ms > slo_ms[function]) / len(own))
                if own and function in slo_ms else math.nan,
                worst_p95_ms=worst_window_p95(own),
            )
        )
    return summaries


def format_table(summaries: list[FunctionSummary]) -> str:
    headers = ["function", "SLO ms", "requests", "errors", "over SLO", "mean ms", "p95 ms", "worst 10s p95",
               "cpu s (req)", "gpu s (req)", "cost USD", "decisions"]
    rows = []
    for s in summaries:
        rows.append(
            [
                s.function,
                "-" if s.slo_ms is None else f"{s.slo_ms:.0f}",
                str(s.requests),
                str(s.errors),
                "-" if math.isnan(s.over_slo) else f"{s.over_slo:.0%}",
                _ms(s.mean_ms),
                _ms(s.p95_ms),
                _ms(s.worst_p95_ms),
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


TABLE_NOTES = (
    "over SLO: requests slower than the SLO, or failed. worst 10s p95: the highest p95 of any 10 s of the run.",
    "cpu s / gpu s: seconds the variant held the route (requests it served); cost: those seconds x the variant's",
    "price per second (com.gaia.price-*, US dollars; defaults 0.000038 CPU, 0.000133 GPU). Both variants stay up",
    "in a local run: this is what a platform that scales the idle variant away would bill.",
)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


VARIANT_COLOURS = {"cpu": "tab:blue", "gpu": "tab:green"}
LABEL_GAP = 0.14  # share of the x axis two decision labels on one line keep apart


def phases(records: list[RequestRecord]) -> list[tuple[float, str]]:
    """(time, param) where the requests' parameter changes, first one included; [] when it never does (pure)."""
    found: list[tuple[float, str]] = []
    for record in sorted(records, key=lambda r: r.start):
        if record.param and (not found or found[-1][1] != record.param):
            found.append((record.start, record.param))
    return found if len(found) > 1 else []


def label_rows(times: list[float], span: float, gap: float = LABEL_GAP) -> list[int]:
    """A text row for each label, so that labels on one row are at least ``gap * span`` apart (pure)."""
    last_on_row: list[float] = []
    rows = []
    for at in times:
        for row, last in enumerate(last_on_row):
            if at - last >= gap * span:
                last_on_row[row] = at
                rows.append(row)
                break
        else:
            last_on_row.append(at)
            rows.append(len(last_on_row) - 1)
    return rows


def plot_timeline(
    records: list[RequestRecord],
    decisions: list[Decision],
    start_variants: dict[str, str],
    slo_ms: dict[str, float],
    duration: float,
    path: Path,
) -> Path:
    """Latency per request over time, one panel per function: the variant holding the route shaded, each
    switch marked with its reason, the SLO dashed, and the phases of the requests' parameter (matmul's
    matrix sizes) marked along the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    functions = list(start_variants)
    span = max(duration, 1.0)
    fig, axes = plt.subplots(len(functions), 1, figsize=(12.5, 3.1 * len(functions)), sharex=True, squeeze=False)
    for ax, function in zip(axes[:, 0], functions):
        own = [r for r in records if r.function == function]
        own_decisions = sorted((d for d in decisions if d.function == function), key=lambda d: d.time)
        for begin, end, variant in route_segments(start_variants[function], own_decisions, duration):
            ax.axvspan(begin, end, color=VARIANT_COLOURS.get(variant, "grey"), alpha=0.10, linewidth=0)
        handles = [Patch(color=colour, alpha=0.25, label=f"route on {variant}") for variant, colour in VARIANT_COLOURS.items()]
        for variant, colour in VARIANT_COLOURS.items():
            points = [r for r in own if r.ok and r.variant == variant]
            if points:
                handles.append(ax.scatter([r.start for r in points], [r.latency_ms for r in points], s=8, color=colour,
                                          label=f"served by {variant}"))
        failed = [r for r in own if not r.ok]
        if failed:
            handles.append(ax.scatter([r.start for r in failed], [r.latency_ms for r in failed], s=14, marker="x",
                                      color="tab:red", label="failed"))
        if function in slo_ms:
            handles.append(ax.axhline(slo_ms[function], color="tab:red", linestyle="--", linewidth=1,
                                      label=f"SLO {slo_ms[function]:.0f} ms"))
        highest = max([r.latency_ms for r in own] + [slo_ms.get(function, 0.0), 1.0])
        rows = label_rows([d.time for d in own_decisions], span)
        top_room = 1.15 + 0.16 * (max(rows) + 1 if rows else 0)
        ax.set_ylim(0, highest * top_room)  # room above the points for the decision labels
        for decision, row in zip(own_decisions, rows):
            ax.axvline(decision.time, color="black", linewidth=1)
            ax.annotate(
                f"{decision.from_variant or '?'} → {decision.to_variant}\n{decision.reason}", (decision.time, 1),
                xycoords=("data", "axes fraction"), xytext=(3, -4 - 22 * row), textcoords="offset points",
                fontsize=7, va="top", bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.85, "linewidth": 0},
            )
        changes = phases(own)
        for index, (at, param) in enumerate(changes):
            if index:
                ax.axvline(at, color="grey", linestyle=":", linewidth=1)
            ax.annotate(f"size {param}" if param.isdigit() else param, (at, 0), xycoords=("data", "axes fraction"),
                        xytext=(3, 3), textcoords="offset points", fontsize=7, color="dimgrey",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.85, "linewidth": 0})
        if changes:
            handles.append(plt.Line2D([], [], color="grey", linestyle=":", label="request size changes"))
        ax.set_title(function, loc="left", fontsize=10)
        ax.set_ylabel("latency ms")
        ax.set_xlim(0, span)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, borderaxespad=0)
    axes[-1, 0].set_xlabel("seconds since the traffic started (shading: the variant holding the route; "
                           "black lines: the controller's switches, with their reasons)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
