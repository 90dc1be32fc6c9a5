"""How fast the replay simulates: seconds per (scenario, platform, strategy), in-process.

    .venv/bin/python benchmarks/replay_speed.py [--scenarios DIR] [--only NAME]... [--repeat N]

Replays a few scenarios of benchmarks/scenarios (an hour at about 1 req/s, a spike that queues, a day at one
request per 10 minutes) on every platform with every strategy, each `--repeat` times (the best time counts),
and prints a table and last one JSON line: per scenario the requests, the simulated hours, and the seconds
per strategy (summed over the platforms), the load average at start and end. The decisions benchmark runs
~19 scenarios x 3 platforms x 4 strategies, so its budget is the sum of these figures over its scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gaia_faas.gateway_plugin import replay, simulator, traces  # noqa: E402

DEFAULT_SCENARIOS = ("hover-at-slo", "spike-10x", "low-rate-10min")


def best_of(repeat: int, run) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, default=ROOT / "benchmarks" / "scenarios")
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    names = args.only or list(DEFAULT_SCENARIOS)
    rows, figures = [], {}
    for name in names:
        cpu, gpu = args.scenarios / f"{name}-cpu.csv", args.scenarios / f"{name}-gpu.csv"
        try:
            workload = traces.load_pair(cpu, gpu)
        except traces.TraceError as exc:
            print(f"replay_speed: {exc}", file=sys.stderr)
            return 2
        hours = max(r.send_s for r in workload.requests) / 3600.0
        per_strategy = {strategy: 0.0 for strategy in replay.STRATEGIES}
        for platform in simulator.PLATFORMS:
            model = simulator.platform(platform)
            config = replay.workload_config(workload, {}, platform)
            for strategy in replay.STRATEGIES:
                seconds, _ = best_of(args.repeat, lambda: replay.replay(workload, strategy, config, model))
                per_strategy[strategy] += seconds
                rows.append((name, platform, strategy, f"{len(workload.requests)}", f"{hours:.1f}", f"{seconds:.3f}"))
        figures[name] = {"requests": len(workload.requests), "hours": round(hours, 2),
                         "seconds_per_strategy_all_platforms": {s: round(v, 3) for s, v in per_strategy.items()}}
    header = ("scenario", "platform", "strategy", "requests", "hours", "seconds")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) if i < 3 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print(json.dumps({"scenarios": figures, "repeat": args.repeat,
                      "load_average": {"start": [round(x, 2) for x in load_start],
                                       "end": [round(x, 2) for x in os.getloadavg()]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
