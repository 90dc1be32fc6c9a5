"""`gaia classify PATH [--json]` (and `python -m <package> PATH [--json]`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .scan import classify_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a handler folder or one Python file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    try:
        result = classify_path(args.path)
    except FileNotFoundError as error:
        print(f"gaia classify: {error}", file=sys.stderr)
        return 2
    if args.json:
        return _emit(json.dumps(result.to_dict()))
    source = "declared" if result.declared else "classifier"
    lines = [f"mode: {result.mode} ({source})", f"rationale: {result.rationale}"]
    if result.frameworks:
        lines.append(f"frameworks: {', '.join(result.frameworks)}")
    if result.evidence:
        lines.append("evidence:")
        lines += [f"  {e.file}:{e.line}  {e.mode:<13}  {e.kind:<20}  {e.detail}" for e in result.evidence]
    lines += [f"error: {error}" for error in result.errors]
    return _emit("\n".join(lines))


def _emit(text: str) -> int:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `gaia classify ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description="classify a handler as cpu/cpu_preferred/gpu_preferred/gpu")
    add_arguments(parser)
    return run(parser.parse_args(argv))
