"""Classifier throughput over the labelled corpus, on one core.

Classifies every corpus case (single files and folders) over and over for --seconds of CPU time, split
into five rounds, and prints, side by side, the files read, the CPU seconds and the files per second of
each round. The last line
is one JSON object: {"files": N, "files_per_s": X} (the median round). The bar is >= 1,000 files/s.

    .venv/bin/python benchmarks/classifier.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import classify_path  # noqa: E402  (the package itself, as the template's build copies it)
from classifier.scan import REQUIREMENTS  # noqa: E402

CORPUS = ROOT / "tests" / "classifier_corpus"
ROUNDS = 5


def corpus_cases() -> tuple[list[Path], int]:
    cases = sorted(case for mode_dir in CORPUS.iterdir() if mode_dir.is_dir() for case in mode_dir.iterdir()
                   if case.name != "__pycache__")
    files = sum(1 for case in cases for path in ([case] if case.is_file() else case.rglob("*"))
                if path.is_file() and (path.suffix == ".py" or REQUIREMENTS.match(path.name)))
    return cases, files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds to spend measuring (default 3)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases, files_per_round = corpus_cases()
    for case in cases:  # warm-up: first imports and the OS file cache
        classify_path(case)
    rates = []
    print(f"{'round':>5}  {'files':>6}  {'cpu s':>7}  {'files/s':>9}")
    for round_number in range(1, ROUNDS + 1):
        files = 0
        start = time.process_time()
        while time.process_time() - start < args.seconds / ROUNDS:
            for case in cases:
                classify_path(case)
            files += files_per_round
        elapsed = time.process_time() - start
        rates.append(files / elapsed)
        print(f"{round_number:>5}  {files:>6}  {elapsed:>7.3f}  {rates[-1]:>9.0f}")
    median = statistics.median(rates)
    print(f"corpus: {len(cases)} cases, {files_per_round} files; median {median:.0f} files/s, min {min(rates):.0f}, max {max(rates):.0f}")
    print(json.dumps({"files": files_per_round, "files_per_s": round(median, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
