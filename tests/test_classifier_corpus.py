"""Accuracy of the classifier on the labelled corpus in tests/classifier_corpus/<expected mode>/<case>."""

from pathlib import Path

import pytest

from gaia_faas.classifier import MODES, classify_path

CORPUS = Path(__file__).parent / "classifier_corpus"
CASES = sorted((mode_dir.name, case) for mode_dir in CORPUS.iterdir() if mode_dir.is_dir() for case in mode_dir.iterdir()
               if case.name != "__pycache__")

# Cases the classifier gets wrong, each with the reason. Empty today; a new miss must be explained here.
KNOWN_MISSES: dict[str, str] = {}


def test_corpus_is_big_enough_and_covers_every_mode():
    assert len(CASES) >= 140
    assert {mode for mode, _ in CASES} == set(MODES)
    assert sum(1 for _, case in CASES if case.is_dir()) >= 5, "multi-file folders are part of the corpus"


def test_accuracy_is_at_least_95_percent_and_every_miss_is_explained():
    misses = {}
    for expected, case in CASES:
        result = classify_path(case)
        if result.mode != expected:
            misses[f"{expected}/{case.name}"] = f"got {result.mode}: {result.rationale}"
    accuracy = 1 - len(misses) / len(CASES)
    assert accuracy >= 0.95, misses
    assert set(misses) == set(KNOWN_MISSES), f"unexplained or fixed misses: {misses}"


@pytest.mark.parametrize(("expected", "case"), CASES, ids=[f"{m}/{c.name}" for m, c in CASES])
def test_case(expected, case):
    if f"{expected}/{case.name}" in KNOWN_MISSES:
        pytest.skip(KNOWN_MISSES[f"{expected}/{case.name}"])
    result = classify_path(case)
    assert result.mode == expected, result.rationale
    assert not result.errors


@pytest.mark.parametrize(("expected", "case"), CASES, ids=[f"{m}/{c.name}" for m, c in CASES])
def test_every_evidence_line_exists_in_its_file(expected, case):
    root = case if case.is_dir() else case.parent
    for item in classify_path(case).evidence:
        lines = (root / item.file).read_text().splitlines()
        assert 1 <= item.line <= len(lines), item


# The line that carries each case's decisive signal: evidence must point at the right place.
DECISIVE = {
    "gpu/resnet_cuda.py": ("resnet_cuda.py", "model = models.resnet50(weights=weights).cuda().eval()"),
    "gpu/alias_helper": ("model.py", "DEV = device(ACCELERATOR)"),
    "gpu/tf_and_cuda_requirement": ("requirements.txt", "tensorflow[and-cuda]==2.16.1"),
    "gpu/vllm_chat": ("engine.py", "from vllm import LLM, SamplingParams"),
    "gpu/env_default_cuda.py": ("env_default_cuda.py", "model = TinyMLP().to(DEVICE).eval()"),
    "gpu_preferred/sdxl_folder": ("loader.py", "pipe = DiffusionPipeline.from_pretrained(BASE, use_safetensors=True)"),
    "gpu_preferred/finetune_step.py": ("finetune_step.py", "loss.backward()"),
    "gpu_preferred/matmul_big.py": ("matmul_big.py", "a = torch.randn(N, N, device=device)"),
    "cpu_preferred/keras_multi": ("net.py", '_model = keras.applications.MobileNetV2(weights="imagenet")'),
}


@pytest.mark.parametrize("name", sorted(DECISIVE))
def test_rationale_points_at_the_decisive_line(name):
    case = CORPUS / name
    result = classify_path(case)
    file, text = DECISIVE[name]
    top = result.evidence[0]
    assert top.mode == result.mode
    root = case if case.is_dir() else case.parent
    assert top.file == file
    assert (root / file).read_text().splitlines()[top.line - 1].strip() == text
    assert f"{file}:{top.line}" in result.rationale
