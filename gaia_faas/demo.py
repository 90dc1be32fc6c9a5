"""`gaia demo`: the reference functions on this machine, driven by the research workloads through the plugin.

Starts everything the way `gaia local-run` does, sends increasing matrix sizes to matmul and 2 s idle waits
to idle-wait (plus light traffic to image-classification and llm), prints progress and every controller
decision as it happens, and ends with a summary table per function and a timeline plot.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gaia_faas.decision_words import describe
from gaia_faas.demo_report import (
    DEFAULT_PRICES, TABLE_NOTES, Decision, format_table, percentile, plot_timeline, summarise,
)
from gaia_faas.local_run import (
    FunctionPlan,
    LocalRun,
    LocalRunError,
    REPO_STACK,
    RUNTIME_READY_TIMEOUT_S,
    VariantPlan,
    check_arguments,
    check_port_free,
    load_stack,
    parse_function_list,
    plan_functions,
    run_until_stopped,
)
from gaia_faas.workload import (
    Driver,
    Workload,
    idle_wait_workload,
    image_classification_workload,
    llm_workload,
    matmul_workload,
)

# The llm is left out by default: on a CPU-only machine its generation competes with matmul for the same cores
# and blurs what the demo shows. `--functions matmul,idle-wait,image-classification,llm` adds it.
DEMO_FUNCTIONS = ["matmul", "idle-wait", "image-classification"]
TINYLLAMA = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
MATMUL_SIZES = [500, 2000, 3000, 4000]
PROGRESS_EVERY_S = 5.0
DECISIONS_EVERY_S = 1.0


# -- what the demo runs (pure) -----------------------------------------------------------------------------
DRIVEN = ("matmul", "idle-wait", "image-classification", "llm")


def workloads_for(functions: list[str]) -> list[Workload]:
    chosen = []
    for name in functions:
        if name == "matmul":
            # On a quiet 2-core laptop a 1-thread product of size 3,500 takes about 1 s (the SLO), 4,000 about 1.6 s.
            chosen.append(matmul_workload(MATMUL_SIZES))
        elif name == "idle-wait":
            chosen.append(idle_wait_workload(wait_time=2.0, clients=3))
        elif name == "image-classification":
            chosen.append(image_classification_workload(pause_s=0.5))
        elif name == "llm":
            chosen.append(llm_workload(pause_s=1.0, max_new_tokens=16))
    return chosen


def thread_env(plan: VariantPlan, cores: int, gpu_present: bool) -> dict[str, str]:
    """Torch threads per variant. Without CUDA the "GPU" variant gets every core and the CPU variant one,
    a stand-in for faster hardware so the controller has something real to find; latencies stay measured."""
    if gpu_present:
        return {}
    return {"OMP_NUM_THREADS": str(cores if plan.variant == "gpu" else 1)}


# -- the LLM's model: never downloaded ----------------------------------------------------------------------
def tinyllama_on_disk() -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return all(isinstance(try_to_load_from_cache(TINYLLAMA, name), str) for name in ("config.json", "model.safetensors"))


def llm_environment(llm: FunctionPlan, work_dir: Path, say) -> dict[str, str]:
    """MODEL_ID for the llm variants: the given one, TinyLlama from the local cache, or a tiny local model."""
    if os.environ.get("MODEL_ID"):
        say(f"llm: MODEL_ID={os.environ['MODEL_ID']} (from the environment; offline)")
        return {"MODEL_ID": os.environ["MODEL_ID"], "HF_HUB_OFFLINE": "1"}
    if tinyllama_on_disk():
        say(f"llm: {TINYLLAMA} found in the Hugging Face cache (offline)")
        return {"MODEL_ID": TINYLLAMA, "HF_HUB_OFFLINE": "1"}
    folder = work_dir / "tiny-llama"
    script = next(iter(llm.variants.values())).handler_dir / "tiny_model.py"
    built = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True)
    if built.returncode != 0:
        raise LocalRunError(f"building the tiny LLM with {script} failed:\n{built.stderr.strip()[-2000:]}")
    say(
        f"llm: no {TINYLLAMA} weights on disk and the demo never downloads; it uses a tiny random Llama built "
        f"locally ({folder}): real tokenizer and generation code, meaningless text, far lower latency than TinyLlama"
    )
    return {"MODEL_ID": str(folder), "HF_HUB_OFFLINE": "1"}


# -- talking to the plugin ---------------------------------------------------------------------------------
def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def fetch_decision_log(gateway_url: str) -> list[dict]:
    """The controller's recent actions (GET /gaia/v1/decisions), oldest first."""
    answer = get_json(f"{gateway_url}/gaia/v1/decisions?limit=1000")
    return sorted(answer["decisions"], key=lambda entry: float(entry["time"]))


def route_changes(entries: list[dict], demo_started_wall: float) -> list[Decision]:
    """The switches among the controller's actions, times made relative to the demo's start (pure)."""
    return [
        Decision(
            time=float(entry["time"]) - demo_started_wall,
            function=entry["function"],
            from_variant=entry.get("from") or "",
            to_variant=entry["to"],
            reason=entry.get("reason", ""),
        )
        for entry in entries
        if entry.get("action") == "switch" and entry.get("to")
    ]


def progress_line(elapsed: float, records, functions: list[str], routes: dict[str, str]) -> str:
    """Per function: requests so far, p95 of the last 10 s, and the variant holding the route (pure)."""
    parts = []
    for name in functions:
        own = [r for r in records if r.function == name]
        recent = [r.latency_ms for r in own if r.ok and r.start >= elapsed - 10]
        last = own[-1] if own else None
        if last is None:
            parts.append(f"{name}: -")
            continue
        p95 = percentile(recent, 95)
        shown = f"{p95:.0f}" if recent else "-"
        param = f" {last.param}" if name == "matmul" else ""
        parts.append(f"{name}{param}: {len(own)} req, p95(10s) {shown} ms, route {routes.get(name, '?')}")
    return f"[{elapsed:5.0f}s] " + " | ".join(parts)


def current_routes(gateway_url: str) -> dict[str, str]:
    """function -> the variant holding its route now (GET /gaia/v1/functions); {} when the plugin is busy."""
    try:
        doc = get_json(f"{gateway_url}/gaia/v1/functions")
        return {fn["name"]: (fn.get("route") or {}).get("variant", "?") for fn in doc.get("functions", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# -- the command -------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of traffic (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=5000, help="request budget over all functions (default %(default)s)")
    parser.add_argument("--functions", default=",".join(DEMO_FUNCTIONS), help="functions to drive (default %(default)s)")
    parser.add_argument("--stack", "-f", type=Path, default=REPO_STACK, help="stack file (default: the reference stack.yml)")
    parser.add_argument("--port", type=int, default=8080, help="gateway plugin port (default %(default)s)")
    parser.add_argument("--plot", type=Path, default=Path("gaia-demo-timeline.png"), help="timeline PNG (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line holding the summary")


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.max_requests <= 0:
        print("gaia demo: --duration and --max-requests must be positive", file=sys.stderr)
        return 2
    try:
        check_arguments(args.port, RUNTIME_READY_TIMEOUT_S)
        check_port_free("127.0.0.1", args.port)  # before the banner and the model set-up, not after them
    except LocalRunError as exc:
        print(f"gaia demo: {exc}", file=sys.stderr)
        return 2
    say = lambda line: print(line, flush=True)  # noqa: E731
    wanted = parse_function_list(args.functions)
    unknown = [name for name in wanted if name not in DRIVEN]
    if unknown or not wanted:
        print(f"gaia demo: it drives {', '.join(DRIVEN)}; not {', '.join(unknown) or 'nothing'} "
              "(gaia local-run runs any function)", file=sys.stderr)
        return 2
    try:
        functions = plan_functions(load_stack(args.stack), args.stack.resolve().parent, wanted,
                                   warn=lambda text: print(f"gaia demo: warning: {text}", file=sys.stderr))
    except LocalRunError as exc:
        print(f"gaia demo: {exc}", file=sys.stderr)
        return 2
    demo = Demo(functions, args, say)
    return demo.run()


class Demo:
    def __init__(self, functions: list[FunctionPlan], args: argparse.Namespace, say):
        self.functions = functions
        self.args = args
        self.say = say
        self.local: LocalRun | None = None
        self.llm_env: dict[str, str] = {}
        self.report = None  # (records, decisions, start variants, duration) once the traffic has run
        self.gpu_present = False

    def _extra_env(self, plan: VariantPlan) -> dict[str, str]:
        env = thread_env(plan, os.cpu_count() or 1, self.gpu_present)
        if plan.function == "llm":
            env.update(self.llm_env)
        return env

    def run(self) -> int:
        self.gpu_present = _cuda_visible()
        self.local = LocalRun(self.functions, port=self.args.port, extra_env=self._extra_env, say=self.say)
        if not self.gpu_present:
            self.say(
                f"No CUDA device here: each GPU variant runs on the CPU with {os.cpu_count()} torch threads, each CPU "
                "variant with 1 -- a stand-in for faster hardware. Every latency below is measured, none simulated."
            )
        llm = next((f for f in self.functions if f.name == "llm"), None)
        if llm is None:
            self.say("llm: not driven (add it with --functions matmul,idle-wait,image-classification,llm)")
        else:
            try:
                self.llm_env = llm_environment(llm, self.local.run_dir, self.say)
            except LocalRunError as exc:
                print(f"gaia demo: {exc}", file=sys.stderr)
                self.local.stop()
                return 1
        status = run_until_stopped(self.local, on_ready=self._drive, say=self.say, prog="gaia demo")
        if status == 0 and self.report is not None:
            self._print_report(*self.report)
        return status

    def _drive(self) -> None:
        local = self.local
        names = [f.name for f in self.functions]
        start_variants = {
            name: doc["route"]["variant"]
            for name, doc in ((n, get_json(f"{local.gateway_url}/gaia/v1/functions/{n}")) for n in names)
        }
        driver = Driver(local.gateway_url, workloads_for(names), self.args.duration, self.args.max_requests)
        self.say(f"driving {', '.join(names)} for {self.args.duration:.0f} s (at most {self.args.max_requests} requests)")
        started_wall = time.time()
        driver.start()
        shown: set[str] = set()
        log: list[dict] = []
        next_progress = PROGRESS_EVERY_S
        try:
            while driver.running():
                time.sleep(DECISIONS_EVERY_S)
                local.check()
                log = self._show_new_decisions(started_wall, shown, log)
                if driver.elapsed() >= next_progress:
                    self.say(progress_line(driver.elapsed(), driver.snapshot(), names, current_routes(local.gateway_url)))
                    next_progress += PROGRESS_EVERY_S
        finally:
            # Also after Ctrl-C: requests in flight finish, and what ran so far is reported.
            driver.stop()
            duration = driver.elapsed()
            log = self._show_new_decisions(started_wall, shown, log)
            decisions = [d for d in route_changes(log, started_wall) if d.time <= duration]
            for record, answer in driver.failures[:5]:
                self.say(f"failed: {record.function} status {record.status}: {answer.decode(errors='replace')}")
            self.report = (driver.snapshot(), decisions, start_variants, duration)

    def _print_report(self, records, decisions, start_variants, duration) -> None:
        prices = {f.name: _prices(f.annotations) for f in self.functions}
        slos = {f.name: float(f.annotations["com.gaia.slo-ms"]) for f in self.functions if f.annotations.get("com.gaia.slo-ms")}
        summaries = summarise(records, decisions, start_variants, prices, duration, slos)
        self.say("")
        self.say(format_table(summaries))
        for note in TABLE_NOTES:
            self.say(note)
        path = plot_timeline(records, decisions, start_variants, slos, duration, self.args.plot)
        self.say(f"timeline plot: {path.resolve()}")
        if self.args.json:
            print(json.dumps({
                s.function: {
                    "requests": s.requests, "errors": s.errors, "mean_ms": s.mean_ms, "p95_ms": s.p95_ms,
                    "slo_ms": s.slo_ms, "over_slo": s.over_slo, "worst_p95_ms": s.worst_p95_ms,
                    "variant_seconds": s.variant_seconds, "cost_usd": s.cost, "decisions": s.decisions,
                }
                for s in summaries
            }), flush=True)

    def _show_new_decisions(self, started_wall: float, shown: set[str], known: list[dict]) -> list[dict]:
        """Print the controller's actions not printed yet; return the whole log of this run."""
        try:
            entries = [e for e in fetch_decision_log(self.local.gateway_url) if float(e["time"]) >= started_wall]
        except (OSError, ValueError, KeyError):
            return known  # the plugin is busy or Redis is away; the next poll catches up
        for entry in entries:
            if entry["id"] not in shown:
                shown.add(entry["id"])
                self.say(describe(entry, started_wall))
        return entries


def _prices(annotations: dict[str, str]) -> dict[str, float]:
    prices = dict(DEFAULT_PRICES)
    for variant in prices:
        value = annotations.get(f"com.gaia.price-{variant}")
        if value:
            prices[variant] = float(value)
    return prices


def _cuda_visible() -> bool:
    """Whether torch sees a CUDA device, asked in a child so that this process never imports torch."""
    probe = subprocess.run(
        [sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
        capture_output=True, env={**os.environ, "PYTORCH_NVML_BASED_CUDA_CHECK": "1"},
    )
    return probe.returncode == 0
