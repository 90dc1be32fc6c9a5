"""`gaia status`: routes, recent stats and controller decisions of a running gateway plugin.

Reads ``GET /gaia/v1/functions`` and ``GET /gaia/v1/decisions`` of the plugin at ``--url`` (standard
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
        raise StatusError(f"{url} answered {exc.code}{': ' + message if message else ''}") from None
    except urllib.error.URLError as exc:
        raise StatusError(f"cannot reach {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise StatusError(f"{url}: {exc}") from None


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_functions(doc: dict) -> list[str]:
    lines = [f"functions (last {doc.get('window_s')} s):"]
    rows = [("function", "mode", "route", "pinned", "cpu n", "cpu p95 ms", "gpu n", "gpu p95 ms")]
    for fn in doc.get("functions", []):
        stats = fn.get("stats") or {}
        cpu, gpu = stats.get("cpu") or {}, stats.get("gpu") or {}
        route = fn.get("route") or {}
        rows.append((fn["name"], str(fn.get("mode") or "-"), route.get("variant", "-"), "yes" if route.get("pinned") else "no",
                     str(cpu.get("count", "-")), _ms(cpu.get("p95_ms")), str(gpu.get("count", "-")), _ms(gpu.get("p95_ms"))))
    return lines + _table(rows)


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
    print("\n".join(format_functions(functions) + [""] + format_decisions(decisions)))
    return 0
