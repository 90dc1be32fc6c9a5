"""`gaia classify PATH [--json]` (and `python -m <package> PATH [--json]`)."""

from __future__ import annotations

import argparse
import json
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
        print(json.dumps(result.to_dict()))
        return 0
    source = "declared" if result.declared else "classifier"
    print(f"mode: {result.mode} ({source})")
    print(f"rationale: {result.rationale}")
    if result.frameworks:
        print(f"frameworks: {', '.join(result.frameworks)}")
    if result.evidence:
        print("evidence:")
        for item in result.evidence:
            print(f"  {item.file}:{item.line}  {item.mode:<13}  {item.kind:<20}  {item.detail}")
    for error in result.errors:
        print(f"error: {error}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description="classify a handler as cpu/cpu_preferred/gpu_preferred/gpu")
    add_arguments(parser)
    return run(parser.parse_args(argv))
