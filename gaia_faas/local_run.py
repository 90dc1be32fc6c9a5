"""`gaia local-run`: the whole system on one machine, with no Docker and no Kubernetes.

Reads a stack.yml, starts Redis (REDIS_URL, or an embedded redis-server), every function variant as a real
gaia-python runtime on its own loopback port, and the gateway plugin with the controller in static mode
in front of them; prints the URLs; on Ctrl-C, SIGTERM, SIGHUP or any child dying, stops everything it started
(and if it is killed outright, Linux ends every child with it: gaia_faas.processes.spawn).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gaia_faas.processes import (
    free_port, redis_answers, redis_server_args, redis_server_binary, signal_group, wait_for_http,
)
from gaia_faas.supervisor import ChildExited, Supervisor, exit_status

class LocalRunError(RuntimeError):
    """Something the user can fix (a port in use, a missing folder, a broken handler); the message says what."""


@dataclass(frozen=True)
class VariantPlan:
    entry: str  # the stack entry, e.g. matmul-gpu
    function: str  # the logical name clients call
    variant: str  # cpu or gpu
    handler_dir: Path
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionPlan:
    name: str
    variants: dict[str, VariantPlan]
    annotations: dict[str, str] = field(default_factory=dict)


# -- reading the stack (pure apart from load_stack and the folder checks) --------------------------------------
def load_stack(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LocalRunError(f"cannot read stack file {path}: {exc.strerror or exc}") from None
    try:
        stack = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LocalRunError(f"stack file {path} is not valid YAML: {exc}") from None
    if not isinstance(stack, dict) or not isinstance(stack.get("functions"), dict):
        raise LocalRunError(f"stack file {path} has no `functions:` mapping")
    return stack


def _text_map(value, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LocalRunError(f"{where} must be a mapping")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def plan_functions(stack: dict, stack_dir: Path, only: list[str] | None = None, warn=None) -> list[FunctionPlan]:
    """The Gaia functions of a stack and their variants.

    Takes a stack as `gaia stack` writes it (variant entries labelled com.gaia.function / com.gaia.variant)
    or its source (`lang: gaia-python` functions, expanded here the same way, classifier included).
    ``only`` keeps a subset (logical names); unknown names are an error that lists the known ones.
    ``warn(text)`` receives each likely typo `gaia stack` would warn about.
    """
    from gaia_faas.stack import StackError, expand_stack

    try:
        expansion = expand_stack(stack, Path(stack_dir))
    except StackError as exc:
        raise LocalRunError(f"stack: {exc}") from None
    for warning in expansion.warnings if warn else ():
        warn(warning)
    plans: dict[str, FunctionPlan] = {}
    for function in expansion.functions:
        variants = {}
        for variant in function.variants.values():
            where = f"functions.{variant.name}"
            handler = variant.entry.get("handler")
            variants[variant.variant] = VariantPlan(
                entry=variant.name,
                function=function.name,
                variant=variant.variant,
                handler_dir=(Path(stack_dir) / handler).resolve(),
                environment=_text_map(variant.entry.get("environment"), f"{where}.environment"),
            )
        plans[function.name] = FunctionPlan(function.name, dict(sorted(variants.items())), dict(function.annotations))
    if only:
        unknown = [name for name in only if name not in plans]
        if unknown:
            known = ", ".join(sorted(plans)) or "none"
            raise LocalRunError(f"no function {', '.join(unknown)} in the stack (functions: {known})")
        plans = {name: plans[name] for name in only}
    if not plans:
        raise LocalRunError("the stack has no Gaia functions (lang: gaia-python)")
    return list(plans.values())


def check_handler_folders(functions: list[FunctionPlan]) -> None:
    for function in functions:
        for plan in function.variants.values():
            if not plan.handler_dir.is_dir():
                raise LocalRunError(f"{plan.entry}: function folder {plan.handler_dir} does not exist")
            if not (plan.handler_dir / "handler.py").is_file():
                raise LocalRunError(f"{plan.entry}: function folder {plan.handler_dir} has no handler.py")


def routes_document(functions: list[FunctionPlan], urls: dict[tuple[str, str], str]) -> dict:
    """The static routes file (docs/design.md) for variants answering at ``urls[(function, variant)]``."""
    return {
        "functions": {
            f.name: {"variants": {v: urls[(f.name, v)] for v in f.variants}, "annotations": dict(f.annotations)}
            for f in functions
        }
    }


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port with connections in TIME_WAIT is free for them too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                from gaia_faas.gateway_plugin.status import what_answers

                shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
                raise LocalRunError(
                    f"port {port} on {host} is already in use by {what_answers(f'http://{shown}:{port}', timeout=1.0)}: "
                    "stop it or choose another port with --port"
                ) from None
            raise LocalRunError(f"cannot bind {host}:{port}: {exc.strerror}") from None


MODEL_VARIABLE = "MODEL_ID"  # the model a function loads: a Hugging Face id or a local folder (functions/llm)


def model_on_disk(model_id: str) -> bool:
    """Whether ``model_id`` is a local folder or a Hugging Face id already in the local cache."""
    if Path(model_id).expanduser().is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # no huggingface_hub, or not a valid repo id: nothing cached for it either way
        return False


def check_models_on_disk(functions: list[FunctionPlan], overrides: dict[str, str]) -> None:
    """Refuse, in one line and before anything starts, functions whose MODEL_ID would have to be downloaded."""
    missing = {}
    for function in functions:
        for plan in function.variants.values():
            model = {**plan.environment, **overrides}.get(MODEL_VARIABLE, "").strip()
            if model and not model_on_disk(model):
                missing.setdefault(function.name, model)
    if not missing:
        return
    names = ", ".join(f"{name} needs the model {model}" for name, model in missing.items())
    others = [f.name for f in functions if f.name not in missing]
    instead = f"start the others with --functions {','.join(others)}, or " if others else ""
    raise LocalRunError(
        f"{names}, which is not on this machine: {instead}give a local copy with --env {MODEL_VARIABLE}=/path/to/model, "
        "or let it download with --allow-downloads (needs internet)"
    )


# -- running it (I/O) ---------------------------------------------------------------------------------------
RUNTIME_READY_TIMEOUT_S = 180.0  # torch imports and model loads of several runtimes share the machine's cores
GATEWAY_READY_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.25


class StopRequested(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived: stop everything that was started."""


class LocalRun:
    """Redis, one runtime per function variant, and the gateway plugin with the controller, as one unit.

    ``extra_env(plan)`` adds environment variables to a variant's runtime (the demo sizes thread pools with it).
    ``say`` receives one line per event (start-up progress, URLs, shutdown).
    """

    def __init__(
        self,
        functions: list[FunctionPlan],
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        redis_url: str | None = None,
        extra_env=None,
        say=print,
        runtime_timeout: float = RUNTIME_READY_TIMEOUT_S,
    ):
        self.functions = functions
        self.host = host
        self.port = port
        self.redis_url = redis_url
        self.extra_env = extra_env or (lambda plan: {})
        self.say = say
        self.runtime_timeout = runtime_timeout
        self.run_dir = Path(tempfile.mkdtemp(prefix="gaia-local-run-"))
        self.supervisor = Supervisor(self.run_dir / "logs")
        self.runtimes: dict[tuple[str, str], object] = {}  # (function, variant) -> RuntimeProcess
        self.gateway = None
        self._starters: list[threading.Thread] = []
        self._stopping = False

    @property
    def gateway_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"

    # -- start-up ----------------------------------------------------------------------------------------
    def start(self) -> "LocalRun":
        check_handler_folders(self.functions)
        check_port_free(self.host, self.port)
        self._start_redis()
        self._start_runtimes(self._build_contexts())
        self._start_gateway()
        return self

    def _start_redis(self) -> None:
        if self.redis_url:
            import redis

            try:
                redis.Redis.from_url(self.redis_url, socket_timeout=2).ping()
            except (redis.RedisError, ValueError) as exc:
                raise LocalRunError(f"Redis at {self.redis_url} does not answer: {exc}") from None
            self.say(f"redis    {self.redis_url} (given)")
            return
        try:
            binary = redis_server_binary()
        except RuntimeError as exc:
            raise LocalRunError(str(exc)) from None
        port = free_port()
        data_dir = self.run_dir / "redis"
        data_dir.mkdir()
        child = self.supervisor.start(
            "redis",
            redis_server_args(binary, port, data_dir),
        )
        deadline = time.monotonic() + 10
        while not redis_answers(port):
            if not child.running() or time.monotonic() > deadline:
                raise LocalRunError(f"embedded redis-server ({binary}) did not start:\n{child.log_tail()}")
            time.sleep(0.02)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.say(f"redis    {self.redis_url} (embedded {Path(binary).name}, data in {data_dir})")

    def _build_contexts(self) -> dict[Path, Path]:
        """One build context per handler folder (both variants of a function run from the same one)."""
        from gaia_faas.runtime_process import BuildContextError, assemble_build_context

        contexts: dict[Path, Path] = {}
        for function in self.functions:
            declared = function.annotations.get("com.gaia.mode") if function.annotations.get("com.gaia.mode-source") == "declared" else None
            for plan in function.variants.values():
                if plan.handler_dir in contexts:
                    continue
                dest = self.run_dir / "build" / plan.handler_dir.name
                try:
                    contexts[plan.handler_dir] = assemble_build_context(plan.handler_dir, dest, declared_mode=declared)
                except BuildContextError as exc:
                    raise LocalRunError(f"{plan.entry}: {exc}") from None
        return contexts

    def _start_runtimes(self, contexts: dict[Path, Path]) -> None:
        """Start every variant at once (model loads overlap) and return when all are ready.

        Each `RuntimeProcess.start` blocks until its runtime is ready, so each runs in a thread of its own;
        the main thread only waits, so that Ctrl-C and SIGTERM reach it at once. The first failure ends the
        wait (`stop` then ends the runtimes still loading).
        """
        from gaia_faas.runtime_process import RuntimeProcess

        failures: list[LocalRunError] = []
        for function in self.functions:
            for plan in function.variants.values():
                env = dict(plan.environment)
                if plan.variant == "gpu":
                    # Without CUDA the GPU variant would refuse to start; locally it runs on the CPU and says so.
                    env["GAIA_ALLOW_CPU_FALLBACK"] = "1"
                env.update(self.extra_env(plan))
                runtime = RuntimeProcess(contexts[plan.handler_dir], variant=plan.variant, env=env)
                self.runtimes[(plan.function, plan.variant)] = runtime
                self.say(f"starting {plan.entry} on port {runtime.port} ...")
                starter = threading.Thread(target=self._start_runtime, args=(plan, runtime, env, failures), daemon=True)
                self._starters.append(starter)
                starter.start()
        while any(starter.is_alive() for starter in self._starters) and not failures:
            time.sleep(POLL_INTERVAL_S)
        if failures:
            raise failures[0]

    def _start_runtime(self, plan: VariantPlan, runtime, env: dict[str, str], failures: list) -> None:
        try:
            runtime.start(timeout=self.runtime_timeout)
        except (RuntimeError, TimeoutError) as exc:
            if self._stopping:
                return  # ended by stop(), not a failure of its own
            cause = likely_cause(str(exc))
            headline = f"{plan.entry} ({plan.handler_dir}) failed to start" + (f": {cause}" if cause else "")
            failures.append(LocalRunError(f"{headline}\n--- {exc}"))
            return
        info = _runtime_info(runtime.url)
        device = info.get("device", "unknown")
        sizing = f"{info.get('workers', '?')} worker(s) x {info.get('threads', '?')} threads"
        threads = env.get("OMP_NUM_THREADS")
        torch_threads = f", {threads} torch thread(s)" if threads else ""
        note = ""
        if plan.variant == "gpu" and device != "cuda":
            note = " -- no CUDA device here: the GPU variant runs on the CPU (GAIA_ALLOW_CPU_FALLBACK=1)"
        self.say(f"ready    {plan.entry:<24} {runtime.url}  device {device}, {sizing}{torch_threads}{note}")

    def _start_gateway(self) -> None:
        urls = {key: runtime.url for key, runtime in self.runtimes.items()}
        routes_file = self.run_dir / "routes.yml"
        routes_file.write_text(yaml.safe_dump(routes_document(self.functions, urls), sort_keys=False))
        argv = [
            sys.executable, "-m", "gaia_faas.cli", "gateway", "--routes", str(routes_file),
            "--redis-url", self.redis_url, "--bind", f"{self.host}:{self.port}", "--workers", "1", "--controller",
        ]
        self.gateway = self.supervisor.start("gateway", argv)
        try:
            wait_for_http(f"{self.gateway_url}/gaia/v1/health", timeout=GATEWAY_READY_TIMEOUT_S, proc=self.gateway.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise LocalRunError(f"the gateway plugin did not start ({exc}):\n{self.gateway.log_tail()}") from None
        self.say(f"gateway  {self.gateway_url}  (controller on, routes file {routes_file})")

    # -- running ------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise LocalRunError naming the first process that died, with the end of its output."""
        try:
            self.supervisor.check()
        except ChildExited as exc:
            raise LocalRunError(f"{exc} unexpectedly; its last output:\n{exc.child.log_tail()}") from None
        for (function, variant), runtime in self.runtimes.items():
            status = exit_status(runtime.pid) if runtime.pid else None
            if status is not None:
                what = f"was killed by signal {-status}" if status < 0 else f"exited with code {status}"
                raise LocalRunError(
                    f"{function}-{variant} {what} unexpectedly; its last output:\n{runtime.stderr_tail()}"
                )

    def wait(self, stop: threading.Event | None = None) -> None:
        """Block until ``stop`` is set (or a signal raises StopRequested); LocalRunError if a process dies."""
        stop = stop or threading.Event()
        while not stop.wait(POLL_INTERVAL_S):
            self.check()

    def stop(self) -> None:
        """Stop the gateway first (no new traffic), then the runtimes, then Redis; leave nothing behind."""
        self._stopping = True
        if self.gateway is not None:
            self.supervisor.stop_one(self.gateway)
            self.gateway = None
        # Runtimes still loading: end their process groups so that their starter threads return, then
        # let each RuntimeProcess clean up after itself. A starter may be between fork and recording the
        # pid, hence the loop.
        while any(starter.is_alive() for starter in self._starters):
            for runtime in self.runtimes.values():
                if runtime.pid:
                    signal_group(runtime.pid, signal.SIGTERM)
            for starter in self._starters:
                starter.join(0.1)
        for runtime in reversed(list(self.runtimes.values())):
            runtime.close()
        self.runtimes.clear()
        self.supervisor.stop_all()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def endpoints(self) -> list[str]:
        url = self.gateway_url
        lines = [f"functions  {url}/function/NAME   (" + ", ".join(f.name for f in self.functions) + ")"]
        lines.append(f"decisions  {url}/gaia/v1/decisions")
        lines.append(f"status     {url}/gaia/v1/functions")
        lines.append(f"metrics    {url}/metrics")
        return lines


# "RuntimeError: model file is missing", "SyntaxError: expected ':'"; not gunicorn's own HaltServer that follows.
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")
_RUNTIME_NOISE = ("HaltServer",)


def likely_cause(output: str) -> str | None:
    """The first exception line in a runtime's output that is not gunicorn's reaction to it (pure)."""
    for line in output.splitlines():
        match = _EXCEPTION_LINE.match(line.strip())
        if match and match.group(1) not in _RUNTIME_NOISE:
            return f"{match.group(1)}: {match.group(2)}" if match.group(2) else match.group(1)
    return None


def _runtime_info(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/_/gaia", timeout=15) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return {}


# -- the command ---------------------------------------------------------------------------------------------
REPO_STACK = Path(__file__).resolve().parent.parent / "stack.yml"


def default_stack_path() -> Path:
    """./stack.yml when there is one (as faas-cli does), else the reference stack beside this checkout."""
    here = Path.cwd() / "stack.yml"
    return here if here.is_file() else REPO_STACK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", "-f", type=Path, default=None,
                        help="stack file with gaia-python variants (default ./stack.yml, else the reference stack)")
    parser.add_argument("--functions", default="",
                        help="comma-separated logical names to start (default: every Gaia function in the stack)")
    parser.add_argument("--port", type=int, default=8080, help="gateway plugin port (default %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="gateway plugin address (default %(default)s)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None,
                        help="use this Redis (env REDIS_URL) instead of starting an embedded redis-server")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set a variable in every runtime, over the stack's environment: (repeatable; "
                             "like faas-cli deploy --env), e.g. --env MODEL_ID=/models/tinyllama")
    parser.add_argument("--allow-downloads", action="store_true",
                        help=f"let runtimes download a {MODEL_VARIABLE} that is not on disk (default: refuse before starting)")
    parser.add_argument("--ready-timeout", type=float, default=RUNTIME_READY_TIMEOUT_S,
                        help="seconds each runtime may take to load its model (default %(default)s)")


def parse_env_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LocalRunError(f"--env takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value
    return overrides


def parse_function_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def plan_from_args(args: argparse.Namespace) -> list[FunctionPlan]:
    stack_path = args.stack or default_stack_path()
    stack = load_stack(stack_path)
    return plan_functions(stack, Path(stack_path).resolve().parent, parse_function_list(args.functions),
                          warn=lambda text: print(f"gaia local-run: warning: {text}", file=sys.stderr))


# Closing the terminal (SIGHUP) stops a local run as cleanly as Ctrl-C or SIGTERM.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class stop_signals:
    """Within the block, SIGTERM, SIGINT and SIGHUP raise StopRequested (once: a second one while stopping is ignored)."""

    def __enter__(self):
        self._previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in self._previous:
            signal.signal(sig, self._raise)
        return self

    def _raise(self, signum, frame):
        for sig in self._previous:
            signal.signal(sig, signal.SIG_IGN)
        raise StopRequested(signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def run_until_stopped(local: LocalRun, on_ready=None, say=print, prog: str = "gaia local-run") -> int:
    """Start ``local``, call ``on_ready()`` (default: wait for a signal), and stop everything in any case.

    0 after a requested stop or a finished ``on_ready``; 1 when something failed (the message, prefixed
    with ``prog``, says what).
    """
    status = 0
    with stop_signals():
        try:
            local.start()
            for line in local.endpoints():
                say(line)
            if on_ready is None:
                say(f"{prog}: ready (Ctrl-C stops everything)")
                local.wait()
            else:
                on_ready()
        except StopRequested as exc:
            say(f"{prog}: {exc} received, stopping")
        except LocalRunError as exc:
            print(f"{prog}: {exc}", file=sys.stderr, flush=True)
            status = 1
        finally:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            local.stop()
            say(f"{prog}: stopped")
    return status


def check_arguments(port: int, ready_timeout: float) -> None:
    if not 1 <= port <= 65535:
        raise LocalRunError(f"--port must be between 1 and 65535, got {port}")
    if ready_timeout <= 0:
        raise LocalRunError(f"--ready-timeout must be a positive number of seconds, got {ready_timeout:g}")


def run(args: argparse.Namespace) -> int:
    try:
        check_arguments(args.port, args.ready_timeout)
        overrides = parse_env_overrides(args.env)
        functions = plan_from_args(args)
        if not args.allow_downloads:
            check_models_on_disk(functions, overrides)
    except LocalRunError as exc:
        print(f"gaia local-run: {exc}", file=sys.stderr)
        return 2
    say = lambda line: print(line, flush=True)  # noqa: E731  (lines reach a pipe as they happen)
    local = LocalRun(functions, host=args.host, port=args.port, redis_url=args.redis_url, say=say,
                     extra_env=lambda plan: overrides, runtime_timeout=args.ready_timeout)
    return run_until_stopped(local, say=say)
