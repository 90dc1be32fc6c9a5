"""Likely typos in a stack file are accepted with a warning naming the closest known setting (issue 13, 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from gaia_faas.gateway_plugin.controller_config import ANNOTATIONS
from gaia_faas.stack import expand_stack, known_annotations

REPO = Path(__file__).resolve().parent.parent


def _stack(tmp_path: Path, annotations: dict, lang: str = "gaia-python", labels: dict | None = None) -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "handler.py").write_text("def handle(event, context):\n    return 'ok'\n")
    entry = {"lang": lang, "handler": "./fn", "image": "reg/fn:1", "annotations": annotations}
    if labels:
        entry["labels"] = labels
    path = tmp_path / "stack.yml"
    path.write_text(yaml.safe_dump({"version": "1.0", "provider": {"name": "openfaas"}, "functions": {"fn": entry}}))
    return path


def gaia_stack(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaia_faas.cli", "stack", "-f", str(path), "-o", "-"],
                          capture_output=True, text=True, cwd=REPO)


def test_a_misspelt_gaia_annotation_is_named_with_the_closest_known_one(tmp_path):
    result = gaia_stack(_stack(tmp_path, {"com.gaia.slo-msx": "1000", "com.gaia.cooldown-secs": "5"}))
    assert result.returncode == 0
    assert ("gaia stack: warning: functions.fn.annotations.com.gaia.slo-msx is not a Gaia setting and is ignored; "
            "did you mean com.gaia.slo-ms?") in result.stderr
    assert "com.gaia.cooldown-secs is not a Gaia setting and is ignored; did you mean com.gaia.cooldown-seconds?" in result.stderr


def test_a_near_miss_lang_is_named_and_a_setting_under_labels_is_moved(tmp_path):
    result = gaia_stack(_stack(tmp_path, {"com.gaia.slo-ms": "100"}, lang="gaia-pyhton"))
    assert result.returncode == 0
    assert ("functions.fn.lang: 'gaia-pyhton' is not gaia-python, so fn passes through without CPU/GPU variants; "
            "did you mean gaia-python?") in result.stderr
    result = gaia_stack(_stack(tmp_path, {}, labels={"com.gaia.slo-ms": "100"}))
    assert "functions.fn.labels.com.gaia.slo-ms is read from annotations, not labels" in result.stderr


def test_every_knob_the_controller_reads_is_known_and_warns_nothing(tmp_path):
    assert set(ANNOTATIONS.values()) <= known_annotations()
    values = {"com.gaia.mode": "cpu", "com.gaia.slo-ms": "100", "com.gaia.gpu-idle": "10m", "com.gaia.topic": "t"}
    expansion = expand_stack(yaml.safe_load(_stack(tmp_path, values).read_text()), tmp_path)
    assert expansion.warnings == []
    # Its own output (com.gaia.mode-source, com.gaia.rationale, the variant labels) warns nothing either.
    again = expand_stack(expansion.stack, tmp_path)
    assert again.warnings == []
    for lang in ("python3-http", "dockerfile", "node20"):
        assert expand_stack({"functions": {"x": {"lang": lang, "handler": ".", "image": "x"}}}, tmp_path).warnings == []
