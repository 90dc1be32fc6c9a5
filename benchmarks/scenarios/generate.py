"""Writes the synthetic paired traces that `benchmarks/decisions.py` replays (issue 9, section 3).

    .venv/bin/python benchmarks/scenarios/generate.py [--out DIR]      # default: this folder

For every scenario it writes `NAME-cpu.csv` and `NAME-gpu.csv` in the uniform trace format
(`workload,mode,seq,timestamp,param,latency_ms`, plus `error` where requests fail) and a sidecar `NAME.json`
(description, `com.gaia.*` annotations, cold starts). The files are generated, never hand-edited:
tests/test_scenarios.py checks that running this script reproduces the committed copies byte for byte.

How the rows are made:

* Send times come from an arrival process (Poisson, possibly with a time-varying rate, or periodic with
  jitter for the low-rate cases). Both files of a pair carry the same send time for a `seq`: the row's
  `timestamp` is its completion time = send time + `latency_ms`, so a reader recovers the send time as
  `timestamp - latency_ms/1000` from either file.
* `latency_ms` is the service time a warm replica of that variant needs for that request (no queueing: the
  replay adds queueing from the replicas' concurrency). Service times are log-normal around a median that
  may depend on time, request size or load, as each scenario says.
* A failed request has `latency_ms` = -1 and `error` = `5xx` | `refused` | `timeout`; its `timestamp` is when
  the client saw the failure (send time + how long that kind of failure takes).
* Determinism: one seeded generator per scenario, drawing only `random.Random.random()` (the one method
  whose sequence Python guarantees across versions); normal deviates by Box-Muller. Values are written with
  fixed decimals, so the files do not depend on the platform's last float digit.

The concurrency of one replica, which decides when a load queues, is the template's default: CPU 2 workers
x 4 threads = 8, GPU 1 worker per GPU x 4 threads = 4 (templates/gaia-python/index.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = datetime(2026, 1, 5, 9, 0, 0)  # naive UTC, like the thesis traces
HEADER = ("workload", "mode", "seq", "timestamp", "param", "latency_ms")
CPU_CONCURRENCY = 2 * 4  # template default: 2 gunicorn workers x GAIA_THREADS=4
GPU_CONCURRENCY = 1 * 4  # one worker per GPU x GAIA_THREADS=4
# How long a client waits before it sees each kind of failure (the replay models this itself; the value
# only sets the failed row's timestamp).
FAILURE_S = {"5xx": 0.015, "refused": 0.002, "timeout": 30.0}
# Cold starts of an OpenFaaS replica, image already on the node: process start and model load on CPU; on GPU
# also the CUDA context and moving the weights to the device.
COLD_CPU_S = 3.0
COLD_GPU_S = 12.0


class Draw:
    """Seeded random deviates built on `random.Random.random()` only (stable across Python versions)."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed)

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * self._rng.random()

    def normal(self) -> float:
        u1 = 1.0 - self._rng.random()  # in (0, 1]: log is finite
        u2 = self._rng.random()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.normal())

    def exponential(self, rate: float) -> float:
        return -math.log(1.0 - self._rng.random()) / rate

    def chance(self, p: float) -> bool:
        return self._rng.random() < p


@dataclass(frozen=True)
class Row:
    """One request as both variants would serve it: service time in ms, or a failure kind."""

    send_s: float
    cpu_ms: float | None
    gpu_ms: float | None
    param: str = ""
    cpu_error: str = ""
    gpu_error: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    annotations: dict[str, str]
    rows: Callable[[Draw], list[Row]]
    cold_start_s: dict[str, float] = field(default_factory=lambda: {"cpu": COLD_CPU_S, "gpu": COLD_GPU_S})


# -- arrival processes ---------------------------------------------------------------------------------------


def poisson(draw: Draw, duration_s: float, rate_at: Callable[[float], float], max_rate: float) -> list[float]:
    """Send times of a Poisson process with rate `rate_at(t)` <= `max_rate`, by thinning."""
    times, t = [], 0.0
    while True:
        t += draw.exponential(max_rate)
        if t >= duration_s:
            return times
        if draw.uniform() * max_rate < rate_at(t):
            times.append(t)


def periodic(draw: Draw, duration_s: float, period_s: float, jitter: float) -> list[float]:
    """Send times of a scheduled caller: every `period_s`, each call off by up to `jitter` x period."""
    times, k = [], 1
    while k * period_s < duration_s:
        times.append(k * period_s + draw.uniform(-jitter, jitter) * period_s)
        k += 1
    return times


def ramp(t: float, points: list[tuple[float, float]]) -> float:
    """Piecewise-linear value at t through (time, value) points; flat before the first and after the last."""
    if t <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def saturating(base_ms: float, rate: float, max_rate: float) -> float:
    """Latency of a CPU-bound handler sharing its cores at `rate` req/s: base / (1 - rate/max_rate)."""
    return base_ms / (1.0 - rate / max_rate)


def slo(ms: int, mode: str = "cpu_preferred", percentile: int = 95) -> dict[str, str]:
    return {"com.gaia.mode": mode, "com.gaia.slo-ms": str(ms), "com.gaia.slo-percentile": str(percentile)}


# -- the scenarios -------------------------------------------------------------------------------------------


def hover_at_slo(draw: Draw) -> list[Row]:
    # The CPU's median swings +-12 % over 10 minutes: some 10-minute stretches have a p95 above the SLO, the
    # hour as a whole does not.
    rows = []
    for t in poisson(draw, 3600, lambda t: 1.0, 1.0):
        median = 500 * (1 + 0.12 * math.sin(2 * math.pi * t / 600))
        rows.append(Row(t, draw.lognormal(median, 0.25), draw.lognormal(300, 0.25)))
    return rows


def _slow_stretches(t: float) -> bool:
    """Two 75-second stretches in two hours (minutes 15 and 70) where the inputs are 2.6x heavier."""
    return 900 <= t < 975 or 4200 <= t < 4275


def gpu_slower(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 7200, lambda t: 0.6, 0.6):
        weight = 2.6 if _slow_stretches(t) else 1.0
        cpu = draw.lognormal(450 * weight, 0.25)
        # The same input on the GPU: 1.5x slower (transfer and kernel launch dominate this small model).
        rows.append(Row(t, cpu, cpu * 1.5 * math.exp(0.08 * draw.normal())))
    return rows


DRIFT_RATE = [(0, 0.4), (720, 0.4), (1200, 2.5), (2100, 2.5), (2580, 0.4), (3600, 0.4)]


def drift_up_down(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 3600, lambda t: ramp(t, DRIFT_RATE), 2.5):
        rate = ramp(t, DRIFT_RATE)
        rows.append(Row(t, draw.lognormal(saturating(350, rate, 3.5), 0.25), draw.lognormal(150, 0.2)))
    return rows


def _outage(kind: str) -> Callable[[Draw], list[Row]]:
    def rows(draw: Draw) -> list[Row]:
        out = []
        for t in poisson(draw, 3600, lambda t: 1.0, 1.0):
            cpu = draw.lognormal(1000, 0.2)
            gpu = draw.lognormal(220, 0.2)
            if 1500 <= t < 1860:
                out.append(Row(t, cpu, None, gpu_error=kind))
            else:
                out.append(Row(t, cpu, gpu))
        return out

    return rows


BURST_CYCLE_S, BURST_S, BURST_RATE = 360, 60, 4.0


def bursts(draw: Draw) -> list[Row]:
    rows = []
    busy = lambda t: t % BURST_CYCLE_S < BURST_S  # noqa: E731
    for t in poisson(draw, 3600, lambda t: BURST_RATE if busy(t) else 0.0, BURST_RATE):
        # The CPU's cores fill up over the burst's first 5 s.
        load = BURST_RATE * min(1.0, (t % BURST_CYCLE_S) / 5.0)
        rows.append(Row(t, draw.lognormal(saturating(300, load, 5.0), 0.25), draw.lognormal(120, 0.2)))
    return rows


SPIKE_FROM_S, SPIKE_TO_S = 1200, 1440


def spike_10x(draw: Draw) -> list[Row]:
    rows = []
    rate = lambda t: 10.0 if SPIKE_FROM_S <= t < SPIKE_TO_S else 1.0  # noqa: E731
    for t in poisson(draw, 2640, rate, 10.0):
        rows.append(Row(t, draw.lognormal(900, 0.15), draw.lognormal(150, 0.2)))
    return rows


def bimodal(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 3600, lambda t: 1.0, 1.0):
        if draw.chance(0.15):
            tokens = round(draw.uniform(2048, 4096))
            cpu, gpu = draw.lognormal(2400 * tokens / 3072, 0.15), draw.lognormal(380 * tokens / 3072, 0.15)
        else:
            tokens = round(draw.uniform(32, 256))
            # Short inputs: the GPU's launch overhead eats its advantage.
            cpu, gpu = draw.lognormal(180, 0.2), draw.lognormal(190, 0.2)
        rows.append(Row(t, cpu, gpu, param=str(tokens)))
    return rows


def slow_rise(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 7200, lambda t: 0.5, 0.5):
        share = t / 7200
        rows.append(Row(t, draw.lognormal(400 + 1000 * share, 0.25), draw.lognormal(180 + 120 * share, 0.2)))
    return rows


def gpu_cold_75s(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 3600, lambda t: 1.0, 1.0):
        heavy = t >= 600
        rows.append(Row(t, draw.lognormal(1500 if heavy else 450, 0.2), draw.lognormal(260 if heavy else 200, 0.2)))
    return rows


def slo_impossible(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 7200, lambda t: 0.5, 0.5):
        # The handler waits on a slow downstream call: the device does not matter.
        rows.append(Row(t, draw.lognormal(2100, 0.05), draw.lognormal(2080, 0.05)))
    return rows


def _low_rate(duration_s: float, period_s: float) -> Callable[[Draw], list[Row]]:
    def rows(draw: Draw) -> list[Row]:
        return [Row(t, draw.lognormal(1500, 0.15), draw.lognormal(250, 0.2))
                for t in periodic(draw, duration_s, period_s, 0.1)]

    return rows


GPU_GOOD_UNTIL_S, GPU_DEGRADED_FROM_S = 1500, 2100


def gpu_degrading(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 3600, lambda t: 1.0, 1.0):
        gpu_median = ramp(t, [(GPU_GOOD_UNTIL_S, 200), (GPU_DEGRADED_FROM_S, 2000)])
        rows.append(Row(t, draw.lognormal(700, 0.25), draw.lognormal(gpu_median, 0.2)))
    return rows


def gpu_broken(draw: Draw) -> list[Row]:
    rows = []
    for t in poisson(draw, 7200, lambda t: 0.6, 0.6):
        weight = 2.6 if _slow_stretches(t) else 1.0
        rows.append(Row(t, draw.lognormal(450 * weight, 0.25), None, gpu_error="5xx"))
    return rows


_OUTAGE_TEXT = (
    "1 h at 1 req/s (Poisson). CPU log-normal median 1,000 ms (p95 about 1,390 ms; about 18 % of requests "
    "above the 1,200 ms SLO); GPU median 220 ms. From minute 25 to 31 (10 % of the run) every GPU request "
    "fails: {how}. Tests that errors count as violations: a policy on the GPU must leave it within seconds, "
    "keep probing it cheaply and come back when it answers again. No static choice meets the SLO (static CPU "
    "about 18 % violations, static GPU 10 % failed); a good policy does better than both (about 2-3 %)."
)

_LOW_RATE_TEXT = (
    "One request every {every} (scheduled caller, +-10 % jitter) for {hours} h. CPU median 1,500 ms, GPU "
    "median 250 ms, SLO 1,000 ms: the CPU misses it on nearly every call. Tests that verification and release "
    "count requests, not a fixed time window: at this rate a 10 s window never holds two requests. Only "
    "static GPU meets the SLO; a policy must promote after a few slow calls, verify on the next GPU calls and "
    "release the CPU, costing less than static GPU."
)

SCENARIOS = (
    Scenario(
        "hover-at-slo",
        "1 h at 1 req/s (Poisson). CPU log-normal median 500 ms whose median swings +-12 % over 10 minutes "
        "(p95 about 780 ms against an 800 ms SLO: about 4 % violations over the hour, above 5 % in some "
        "10-minute stretches); GPU median 300 ms. Tests statistics with confidence: a p95 over a few "
        "samples must not promote. Static CPU meets the SLO and is the cheapest; a policy must stay within "
        "1.1x its cost.",
        slo(800), hover_at_slo),
    Scenario(
        "gpu-slower",
        "2 h at 0.6 req/s. CPU median 450 ms, except two 75 s stretches (minutes 15 and 70) of 2.6x heavier "
        "inputs where the CPU misses the 1,000 ms SLO; the GPU serves every input 1.5x slower than the CPU. "
        "Tests that a GPU that does not help is rejected after one cheap attempt and backed off (two hours, "
        "so that one attempt fits in 1.1x static CPU even on Knative, where a revision that got traffic "
        "stays up 90 s). Static CPU meets the SLO (about 2 % violations) and is the cheapest; static GPU "
        "does not.",
        slo(1000), gpu_slower),
    Scenario(
        "drift-up-down",
        "1 h, Poisson with a rate 0.4 req/s, ramping to 2.5 req/s (minutes 12-20), held (20-35), back to "
        "0.4 (35-43). CPU latency depends on the load: median 350 ms / (1 - rate / 3.5 req/s), so it meets "
        "the 1,000 ms SLO below about 1.6 req/s and not above; GPU median 150 ms at any rate. Tests demotion "
        "when the CPU is predicted to meet the SLO at the current rate. Only static GPU meets the SLO; a "
        "policy must meet it at less cost than static GPU by serving the low-rate parts on the CPU.",
        slo(1000), drift_up_down),
    Scenario("gpu-outage-5xx", _OUTAGE_TEXT.format(how="fast HTTP 500s after about 15 ms"),
             {**slo(1200)}, _outage("5xx")),
    Scenario("gpu-outage-refused", _OUTAGE_TEXT.format(how="connection refused at once"),
             {**slo(1200)}, _outage("refused")),
    Scenario("gpu-outage-timeout", _OUTAGE_TEXT.format(how="no answer until the client's timeout"),
             {**slo(1200)}, _outage("timeout")),
    Scenario(
        "bursts",
        "1 h in 6-minute cycles: a 60 s burst at 4 req/s (Poisson), then 5 minutes without a request. On "
        "the CPU the burst saturates the cores (median 300 ms / (1 - load / 5 req/s), about 1.5 s at full "
        "load), so nearly every burst request misses the 1,000 ms SLO; GPU median 120 ms. Tests that a "
        "function whose gaps are part of its rhythm is not treated as idle after each burst. Only static "
        "GPU meets the SLO; a policy must meet it at less cost than static GPU.",
        slo(1000), bursts),
    Scenario(
        "spike-10x",
        "44 minutes at 1 req/s (Poisson) with a 4-minute spike to 10 req/s at minute 20. Service times "
        "CPU median 900 ms, GPU median 150 ms. In the spike the CPU replica (concurrency 8 = 2 workers x "
        "4 threads) is offered 10 x 0.9 = 9 requests in flight and queues (static CPU: about half the run "
        "violates the SLO); the GPU replica (concurrency 4) is offered 1.5. Tests promotion under queueing "
        "and demotion soon after the spike. Only static GPU meets the 1,500 ms SLO; a policy must meet it "
        "at less cost than static GPU.",
        slo(1500), spike_10x),
    Scenario(
        "bimodal",
        "1 h at 1 req/s. 85 % short inputs (32-256 tokens: CPU median 180 ms, GPU 190 ms) and 15 % long "
        "ones (2,048-4,096 tokens: CPU about 1.6-3.2 s, GPU 250-500 ms); `param` = tokens. The medians of "
        "both variants are the same; only the tail differs. Tests comparing the variants on the SLO "
        "percentile, not the median. Only static GPU meets the 1,000 ms SLO (static CPU about 15 % "
        "violations); a policy must meet it at less cost than static GPU.",
        slo(1000), bimodal, {"cpu": 4.0, "gpu": 15.0}),
    Scenario(
        "slow-rise",
        "2 h at 0.5 req/s. The CPU's median rises linearly from 400 ms to 1,400 ms (a growing index), its "
        "p95 crossing the 1,000 ms SLO after about 30 minutes; GPU median 180 -> 300 ms. Tests promotion "
        "on a slow trend. Only static GPU meets the SLO; a policy must meet it at less cost than static GPU.",
        slo(1000), slow_rise),
    Scenario(
        "gpu-cold-75s",
        "1 h at 1 req/s. CPU median 450 ms for 10 minutes, then 1,500 ms (heavier inputs); GPU 200 then "
        "260 ms. The GPU takes 75 s from scale-up to its first answer (large model). Tests a warm-up timeout "
        "that follows the observed start time: a fixed 60 s timeout never succeeds. Only static GPU meets the "
        "1,000 ms SLO; a policy must meet it (the 75 s on the CPU cost about 2 %) at less cost than static GPU.",
        slo(1000), gpu_cold_75s, {"cpu": 3.0, "gpu": 75.0}),
    Scenario(
        "slo-impossible",
        "2 h at 0.5 req/s. The handler waits on a slow downstream call: CPU median 2,100 ms, GPU 2,080 ms, "
        "SLO 1,000 ms. Tests that a GPU that cannot help is given up quickly and stays given up (about two "
        "attempts fit in the allowance on Knative). No static choice meets the SLO; both violate it on every "
        "request, so a policy must cost at most 1.1x static CPU.",
        slo(1000), slo_impossible),
    Scenario("low-rate-10min", _LOW_RATE_TEXT.format(every="10 minutes", hours=24),
             slo(1000), _low_rate(86400, 600)),
    Scenario("low-rate-1min", _LOW_RATE_TEXT.format(every="minute", hours=4), slo(1000), _low_rate(14400, 60)),
    Scenario("low-rate-30s", _LOW_RATE_TEXT.format(every="30 s", hours=2), slo(1000), _low_rate(7200, 30)),
    Scenario(
        "gpu-degrading",
        "1 h at 1 req/s. CPU median 700 ms (about 7 % violations of the 1,000 ms SLO). GPU median 200 ms "
        "until minute 25, then degrading linearly to 2,000 ms by minute 35 (thermal throttling, a noisy "
        "neighbour) and staying there. Tests continuous re-evaluation of a verified GPU: leave it once it is "
        "no longer better. No static choice meets the SLO (static CPU about 7 %, static GPU about 50 %); a "
        "policy that promotes and leaves in time gets about 4-5 %.",
        slo(1000), gpu_degrading),
    Scenario(
        "gpu-broken",
        "2 h at 0.6 req/s. The GPU variant answers every request with a fast HTTP 500 from the start. The "
        "CPU (median 450 ms) misses the 1,000 ms SLO only in two 75 s stretches of heavier inputs (minutes 15 "
        "and 70), which tempt a promotion. Tests that a GPU failing verification by errors is left at once "
        "and backed off. Static CPU meets the SLO (about 2 % violations) and is the cheapest; a policy must "
        "meet it within 1.1x its cost.",
        slo(1000), gpu_broken),
)


# -- writing -------------------------------------------------------------------------------------------------


def _timestamp(send_s: float, latency_ms: str) -> str:
    """Completion time from exact microseconds, so timestamp - latency gives back the send time."""
    micros = round(send_s * 1e6) + round(float(latency_ms) * 1000)
    return (START + timedelta(microseconds=micros)).isoformat(timespec="microseconds")


def _csv_lines(scenario: Scenario, rows: list[Row], variant: str, with_error: bool) -> list[str]:
    lines = [",".join(HEADER + (("error",) if with_error else ()))]
    for seq, row in enumerate(rows):
        ms = row.cpu_ms if variant == "cpu" else row.gpu_ms
        error = row.cpu_error if variant == "cpu" else row.gpu_error
        if ms is None:
            latency, done = "-1", _timestamp(row.send_s + FAILURE_S[error], "0")
        else:
            latency = f"{ms:.3f}"
            done = _timestamp(row.send_s, latency)
        fields = [scenario.name, variant, str(seq), done, row.param, latency] + ([error] if with_error else [])
        lines.append(",".join(fields))
    return lines


def render(scenario: Scenario, seed: int) -> dict[str, str]:
    """File name -> contents of one scenario's pair and sidecar."""
    rows = scenario.rows(Draw(seed))
    with_error = any(r.cpu_error or r.gpu_error for r in rows)
    sidecar = {"description": scenario.description, "annotations": scenario.annotations,
               "cold_start_s": scenario.cold_start_s, "warm_start": True}
    return {
        f"{scenario.name}-cpu.csv": "\n".join(_csv_lines(scenario, rows, "cpu", with_error)) + "\n",
        f"{scenario.name}-gpu.csv": "\n".join(_csv_lines(scenario, rows, "gpu", with_error)) + "\n",
        f"{scenario.name}.json": json.dumps(sidecar, indent=2) + "\n",
    }


def render_all() -> dict[str, str]:
    """Every scenario's files, each drawn with a seed from its name (adding a scenario changes no other)."""
    files: dict[str, str] = {}
    for scenario in SCENARIOS:
        files.update(render(scenario, zlib.crc32(scenario.name.encode())))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: this folder)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"generate.py: {args.out} is not a folder", file=sys.stderr)
        return 2
    for name, text in render_all().items():
        (args.out / name).write_text(text)
    print(f"wrote {len(SCENARIOS)} scenarios to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
