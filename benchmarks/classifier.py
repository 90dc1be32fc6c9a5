"""Classifier accuracy and throughput over the labelled corpus, on one core.

First classifies every case of tests/classifier_corpus/<expected mode>/<case> once and prints the confusion
matrix (rows: expected, columns: classified), 4-class accuracy, and recall and precision for the GPU-affine
modes (gpu_preferred and gpu together: the functions that should get a GPU variant). Then classifies every
case over and over for --seconds of CPU time, split into five rounds, and prints the files read (Python,
requirements and platform files), the CPU seconds and the files per second of each round. The last line is
one JSON object: {"cases", "accuracy", "gpu_affine_recall", "gpu_affine_precision", "confusion", "files",
"files_per_s"} (files/s of the median round). Bars: accuracy >= 0.85, recall >= 0.95, precision >= 0.90,
>= 1,000 files/s.

    .venv/bin/python benchmarks/classifier.py [--seconds 3] [--corpus DIR]
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

from classifier import MODES, classify_path  # noqa: E402  (the package itself, as the template's build copies it)
from classifier.platform import is_platform_file  # noqa: E402
from classifier.scan import REQUIREMENTS  # noqa: E402

CORPUS = ROOT / "tests" / "classifier_corpus"
ROUNDS = 5
GPU_AFFINE = {"gpu_preferred", "gpu"}


def corpus_cases(corpus: Path) -> tuple[list[Path], int]:
    cases = sorted(case for mode_dir in corpus.iterdir() if mode_dir.is_dir() and mode_dir.name in MODES
                   for case in mode_dir.iterdir() if case.name != "__pycache__")
    files = sum(1 for case in cases for path in ([case] if case.is_file() else case.rglob("*"))
                if path.is_file() and (path.suffix == ".py" or REQUIREMENTS.match(path.name)
                                       or is_platform_file(path.name)))
    return cases, files


def quality(cases: list[Path]) -> dict:
    """Confusion matrix, accuracy, GPU-affine recall and precision of one pass over the cases."""
    confusion = {expected: {got: 0 for got in MODES} for expected in MODES}
    misses = []
    for case in cases:
        expected, got = case.parent.name, classify_path(case).mode
        confusion[expected][got] += 1
        if got != expected:
            misses.append(f"{expected}/{case.name}: {got}")
    total = len(cases)
    right = sum(confusion[m][m] for m in MODES)
    affine = sum(confusion[e][g] for e in GPU_AFFINE for g in MODES)
    called = sum(confusion[e][g] for e in MODES for g in GPU_AFFINE)
    hits = sum(confusion[e][g] for e in GPU_AFFINE for g in GPU_AFFINE)
    return {"cases": total, "accuracy": round(right / total, 4) if total else 0.0,
            "gpu_affine_recall": round(hits / affine, 4) if affine else 1.0,
            "gpu_affine_precision": round(hits / called, 4) if called else 1.0,
            "confusion": confusion, "misses": misses}


def print_quality(figures: dict) -> None:
    width = max(len(m) for m in MODES)
    print(f"{'expected/got':>{width}}  " + "  ".join(f"{m:>{width}}" for m in MODES))
    for expected in MODES:
        print(f"{expected:>{width}}  " + "  ".join(f"{figures['confusion'][expected][g]:>{width}}" for g in MODES))
    print(f"accuracy {figures['accuracy']:.3f} (bar 0.85), GPU-affine recall {figures['gpu_affine_recall']:.3f} "
          f"(bar 0.95), precision {figures['gpu_affine_precision']:.3f} (bar 0.90) over {figures['cases']} cases")
    for miss in figures["misses"]:
        print(f"  miss: {miss}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds to spend measuring (default 3)")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="a labelled corpus: <dir>/<expected mode>/<case> (default tests/classifier_corpus)")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"benchmarks/classifier.py: {args.corpus}: no such folder", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    cases, files_per_round = corpus_cases(args.corpus)
    if not cases:
        print(f"benchmarks/classifier.py: {args.corpus}: no cases under <mode>/ folders", file=sys.stderr)
        return 2
    figures = quality(cases)  # also the warm-up: first imports, the installed-distribution index, file cache
    print_quality(figures)
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
    figures.pop("misses")
    print(json.dumps({**figures, "files": files_per_round, "files_per_s": round(median, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
