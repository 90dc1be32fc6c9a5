"""`gaia status`: routes, recent stats and controller decisions of a running gateway plugin.

Reads ``GET /gaia/v1/functions`` (with the GPU pool) and ``GET /gaia/v1/decisions`` of the plugin at ``--url`` (standard
library only, so it works from any machine that can reach the plugin).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone


class StatusError(Exception):
    """The plugin could not be asked; the message says why."""


class NotAPlugin(StatusError):
    """Something answers at the URL, but not as the Gaia gateway plugin."""


def add_arguments(parser) -> None:
    parser.add_argument("--url", default=os.environ.get("GAIA_URL", "http://127.0.0.1:8080"),
                        help="the gateway plugin's base URL (env GAIA_URL; default %(default)s)")
    parser.add_argument("--function", help="only this function")
    parser.add_argument("--window", type=int, default=60, help="seconds of stats to show (default %(default)s)")
    parser.add_argument("--limit", type=int, default=20, help="decisions to show (default %(default)s)")
    parser.add_argument("--json", action="store_true", help='print {"functions": ..., "decisions": ...} as JSON')


def fetch(url: str, timeout: float = 10.0) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        if exc.code == 404 and not message:  # every plugin 404 carries an error message; a bare one is someone else
            base = url.split("/gaia/v1/", 1)[0]
            raise NotAPlugin(f"{base} is {what_answers(base)}: GET {url.removeprefix(base)} answered 404; "
                             "point --url at the Gaia gateway plugin") from None
        raise StatusError(f"{url} answered {exc.code}{': ' + message if message else ''}") from None
    except urllib.error.URLError as exc:
        raise StatusError(f"cannot reach {url}: {exc.reason}") from None
    except ValueError:
        base = url.split("/gaia/v1/", 1)[0]
        raise NotAPlugin(f"{base} is {what_answers(base)}: GET {url.removeprefix(base)} did not answer JSON; "
                         "point --url at the Gaia gateway plugin") from None
    except OSError as exc:
        raise StatusError(f"{url}: {exc}") from None


def _get(url: str, timeout: float) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read(64 * 1024)


def what_answers(base: str, timeout: float = 2.0) -> str:
    """What kind of server answers at ``base`` (a Gaia plugin, an OpenFaaS gateway, something else), in words.

    Asks the endpoints each kind serves: the plugin's /gaia/v1/health, the OpenFaaS gateway's /system/info
    (401 with the gateway's realm when basic auth is on) and /healthz; otherwise names the Server header.
    """
    base = base.rstrip("/")
    try:
        status, headers, body = _get(f"{base}/gaia/v1/health", timeout)
        if status in (200, 503):  # 503: a plugin that cannot route yet (no good discovery so far)
            try:
                health = json.loads(body)
                if isinstance(health, dict) and {"status", "redis"} <= health.keys():
                    return "a Gaia gateway plugin"
            except ValueError:
                pass
        status, headers, body = _get(f"{base}/system/info", timeout)
        if status == 200:
            try:
                info = json.loads(body)
                release = (info.get("version") or {}).get("release") or "?"
                provider = (info.get("provider") or {}).get("provider") or "?"
                return f"an OpenFaaS gateway ({release}, provider {provider}), not the Gaia plugin in front of it"
            except (ValueError, AttributeError):
                pass
        if status == 401 and "Restricted" in headers.get("WWW-Authenticate", ""):
            return "an OpenFaaS gateway (basic auth on /system/info), not the Gaia plugin in front of it"
        server = headers.get("Server")
        return f"a server that is not a Gaia gateway plugin{f' (Server: {server})' if server else ''}"
    except (OSError, ValueError) as exc:
        return f"nothing that answers HTTP ({getattr(exc, 'reason', exc)})"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_functions(doc: dict) -> list[str]:
    lines = [f"functions (last {doc.get('window_s')} s):"]
    rows = [("function", "mode", "route", "pinned", "cpu n", "cpu p95 ms", "gpu n", "gpu p95 ms", "dispatch", "crossover",
             "gpu pool")]
    for fn in doc.get("functions", []):
        stats = fn.get("stats") or {}
        cpu, gpu = stats.get("cpu") or {}, stats.get("gpu") or {}
        route = fn.get("route") or {}
        hybrid = fn.get("hybrid") or {}
        crossover = hybrid.get("crossover_size")
        place = (fn.get("gpu_pool") or {}).get("state") or "-"
        rows.append((fn["name"], str(fn.get("mode") or "-"), route.get("variant", "-"), "yes" if route.get("pinned") else "no",
                     str(cpu.get("count", "-")), _ms(cpu.get("p95_ms")), str(gpu.get("count", "-")), _ms(gpu.get("p95_ms")),
                     hybrid.get("mode", "-"), "-" if crossover is None else f"{crossover:g}", place))
    return lines + _table(rows)


def _number(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def format_pool(pool: dict) -> list[str]:
    """The GPU pool: capacity and where it comes from, who holds it and why, who waits."""
    capacity = pool.get("capacity")
    if capacity is None and pool.get("error"):
        return [f"GPU pool: unknown ({pool['error']})"]
    sources = [f"{label} {pool[key]}" for key, label in (("setting", "setting"), ("routes_file_setting", "routes file"),
                                                          ("cluster_gpus", "cluster")) if pool.get(key) is not None]
    head = (f"GPU pool: {pool.get('held', len(pool.get('holders') or ()))} of "
            f"{'unlimited' if capacity is None else capacity} held"
            + (f" ({', '.join(sources)})" if sources else "")
            + f"; preemption at {_number(pool.get('preempt_ratio'))}x after {_number(pool.get('min_dwell_s'), ' s')}"
            + (f"; a released GPU free {_number(pool['release_grace_s'], ' s')} later" if pool.get("release_grace_s") else ""))
    lines = [head + (f"; {pool['error']}" if pool.get("error") else "") + ":"]
    rows = [("holder", "state", "held s", "benefit/s", "reserved")]
    for holder in pool.get("holders") or ():
        state = holder.get("state", "holds")
        if holder.get("free_at") is not None and pool.get("updated_at") is not None:  # its pod still terminating
            state += f" (free in {max(0.0, holder['free_at'] - pool['updated_at']):.0f} s)"
        rows.append((holder["function"], state, _number(holder.get("held_s")),
                     _number(holder.get("benefit_per_s")), "yes" if holder.get("reserved") else "no"))
    lines += _table(rows) if len(rows) > 1 else ["  (no holders)"]
    waiting = pool.get("waiting") or ()
    if waiting:
        rows = [("waiting", "reason", "benefit/s", "preempting")]
        for waiter in waiting:
            rows.append((waiter["function"], waiter.get("reason") or "-", _number(waiter.get("benefit_per_s")),
                         waiter.get("preempting") or "-"))
        lines += _table(rows)
    return lines


def format_decisions(doc: dict) -> list[str]:
    lines = [f"decisions (controller leader: {doc.get('leader') or 'none'}):"]
    rows = [("time (UTC)", "function", "action", "from", "to", "reason")]
    for d in doc.get("decisions", []):
        when = datetime.fromtimestamp(d["time"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((when, d["function"], d["action"], d.get("from") or "-", d.get("to") or "-", d["reason"]))
    if len(rows) == 1:
        return lines + ["  (none)"]
    return lines + _table(rows)


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def run(args) -> int:
    base = args.url.rstrip("/")
    if "://" not in base:
        print(f"gaia status: --url must be a URL with a scheme, got {args.url!r}", file=sys.stderr)
        return 2
    if not 1 <= args.window <= 3600 or not 1 <= args.limit <= 1000:
        print("gaia status: --window must be 1..3600 and --limit 1..1000", file=sys.stderr)
        return 2
    query = {"limit": str(args.limit)}
    if args.function:
        query["function"] = args.function
    try:
        if args.function:
            functions = {"window_s": args.window, "functions": [fetch(
                f"{base}/gaia/v1/functions/{urllib.parse.quote(args.function, safe='')}?window={args.window}")]}
        else:
            functions = fetch(f"{base}/gaia/v1/functions?window={args.window}")
        decisions = fetch(f"{base}/gaia/v1/decisions?{urllib.parse.urlencode(query)}")
    except StatusError as exc:
        print(f"gaia status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"functions": functions, "decisions": decisions}))
        return 0
    pool = format_pool(functions["pool"]) + [""] if functions.get("pool") else []
    print("\n".join(format_functions(functions) + [""] + pool + format_decisions(decisions)))
    return 0
