"""Many functions, few GPUs: the GPU pool allocator against the alternatives, in the replay simulator.

All the project's paired scenarios (`benchmarks/scenarios/`, 17 functions) replayed at once on one shared
pool of 1, 2, 4 and 8 GPUs (platform pro), under `gaia replay --pool`'s strategies:
(a) `pool`: the live controller's policy plus the pool allocator; (b) `fcfs`: today's independent
per-function policy with the capacity enforced first come, first served; (c) `prototype-fcfs`: the
prototype re-implementation, capacity first come, first served; (d) `static-cpu`; (e) `static-gpu-busiest`:
the N busiest functions on their GPU the whole run.

    .venv/bin/python benchmarks/gpu_pool.py [--sizes 1,2,4,8] [--platform pro] [--scenarios DIR]

Bar (issue 10): at every pool size (a) has a higher SLO attainment (requests within the SLO, failed ones
counted as missed, over all functions) than (b) and (c), at no more cost, and no strategy is ever over
capacity (`capacity_exceeded: 0`). The last line printed is one JSON object with the figures and verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gaia_faas.gateway_plugin import pool_replay, replay, simulator, traces

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4,8", help="pool sizes (default %(default)s)")
    parser.add_argument("--platform", choices=simulator.PLATFORMS, default=simulator.PRO)
    parser.add_argument("--scenarios", type=Path, default=SCENARIOS, help="folder of paired traces (default: ours)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        workloads = [traces.load_pair(cpu, gpu) for _, cpu, gpu in traces.find_pairs(args.scenarios)]
    except (ValueError, traces.TraceError) as exc:
        print(f"gpu_pool: {exc}", file=sys.stderr)
        return 2
    model = simulator.platform(args.platform)
    configs = {w.name: replay.workload_config(w, {}, model.name) for w in workloads}
    figures: dict[str, dict] = {}
    started = time.monotonic()
    for size in sizes:
        runs = {strategy: pool_replay.replay_pool(workloads, configs, strategy, size, model).summary()
                for strategy in pool_replay.POOL_STRATEGIES}
        pooled, fcfs, prototype = runs["pool"], runs["fcfs"], runs["prototype-fcfs"]
        verdict = {
            "attainment_above_fcfs": pooled["slo_attainment_pct"] > fcfs["slo_attainment_pct"],
            "attainment_above_prototype": pooled["slo_attainment_pct"] > prototype["slo_attainment_pct"],
            "cost_at_most_fcfs": pooled["cost"] <= fcfs["cost"],
            "cost_at_most_prototype": pooled["cost"] <= prototype["cost"],
            "capacity_exceeded": sum(r["capacity_exceeded"] for r in runs.values()),
            "cost_ratio_to_fcfs": round(pooled["cost"] / fcfs["cost"], 3) if fcfs["cost"] else None,
            "cost_ratio_to_prototype": round(pooled["cost"] / prototype["cost"], 3) if prototype["cost"] else None,
        }
        figures[str(size)] = {"strategies": runs, "verdict": verdict}
        print(f"\npool of {size} GPU(s), {len(workloads)} functions, platform {model.name}:")
        print(pool_replay.format_pool_table(runs))
    meets = all(f["verdict"]["attainment_above_fcfs"] and f["verdict"]["attainment_above_prototype"]
                and f["verdict"]["cost_at_most_fcfs"] and f["verdict"]["cost_at_most_prototype"]
                and f["verdict"]["capacity_exceeded"] == 0 for f in figures.values())
    print(f"\nbar (higher attainment than fcfs and prototype at no more cost, never over capacity): "
          f"{'met' if meets else 'NOT met'} ({time.monotonic() - started:.0f} s)")
    print(json.dumps({"platform": model.name, "functions": len(workloads), "sizes": figures,
                      "capacity_exceeded": sum(f["verdict"]["capacity_exceeded"] for f in figures.values()),
                      "meets_bar": meets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
