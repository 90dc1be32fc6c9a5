"""Bad input never becomes a traceback: each gives a clear message in `errors` and a mode from what could be read.
Also: classification never executes the handler, and the package runs standalone under another name."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gaia_faas.classifier import classify_path

PACKAGE = Path(__file__).parent.parent / "classifier"
GPU_HELPER = "import torch\nx = torch.ones(2).cuda()\n"


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_syntax_error_reports_the_line_and_reads_imports_as_text(tmp_path):
    write(tmp_path / "handler.py", "import cupy\n\nprint 'python 2 style'\n")
    write(tmp_path / "ok.py", "import json\n")
    result = classify_path(tmp_path)
    assert result.mode == "gpu"
    assert any(e.startswith("handler.py:3: syntax error") for e in result.errors), result.errors
    assert [(e.file, e.line) for e in result.evidence if e.kind == "gpu_library"] == [("handler.py", 1)]


def test_binary_file_is_skipped_with_a_message(tmp_path):
    write(tmp_path / "weights.py", b"\x00\x01\x02torch.cuda()\xff" * 100)
    write(tmp_path / "handler.py", GPU_HELPER)
    result = classify_path(tmp_path)
    assert result.mode == "gpu"
    assert any("weights.py: binary file" in e for e in result.errors)


def test_non_utf8_file_is_skipped_unless_it_declares_its_encoding(tmp_path):
    write(tmp_path / "latin.py", "# caf\xe9\nimport torch\nx = torch.ones(1).cuda()\n".encode("latin-1"))
    write(tmp_path / "declared.py", "# -*- coding: latin-1 -*-\n# caf\xe9\nimport torch\ny = torch.ones(1)\n"
          .encode("latin-1"))
    result = classify_path(tmp_path)
    assert any(e.startswith("latin.py: not UTF-8") for e in result.errors), result.errors
    assert not any("declared.py" in e for e in result.errors)
    assert result.mode == "cpu_preferred"  # from declared.py; latin.py's CUDA call could not be read


def test_ten_megabyte_file_is_skipped(tmp_path):
    write(tmp_path / "generated.py", "x = 1\n" * (10 * 1024 * 1024 // 6 + 1))
    write(tmp_path / "handler.py", GPU_HELPER)
    result = classify_path(tmp_path)
    assert result.mode == "gpu"
    assert any(e.startswith("generated.py: 10.5 MB is over the 2 MB limit") for e in result.errors), result.errors


@pytest.mark.parametrize("expression", [
    "(" * 5000 + "1" + ")" * 5000,
    "1" + "+1" * 100_000,
    "-" * 50_000 + "1",
    "[" * 90 + "]" * 90,
])
def test_deeply_nested_expressions(tmp_path, expression):
    write(tmp_path / "deep.py", f"import torch\nx = {expression}\n")
    write(tmp_path / "handler.py", GPU_HELPER)
    result = classify_path(tmp_path)
    assert result.mode == "gpu"
    deep_errors = [e for e in result.errors if e.startswith("deep.py")]
    assert deep_errors or expression.startswith("["), result.errors  # 90 levels is deep but still analysed
    assert all("nested" in e or "syntax error" in e for e in deep_errors)


def test_symlink_loops(tmp_path):
    write(tmp_path / "handler.py", GPU_HELPER)
    os.symlink(tmp_path, tmp_path / "again")
    os.symlink(tmp_path / "b.py", tmp_path / "a.py")
    os.symlink(tmp_path / "a.py", tmp_path / "b.py")
    result = classify_path(tmp_path)
    assert result.mode == "gpu"
    assert any("again: symlink loop" in e for e in result.errors), result.errors
    assert "a.py: symlink loop, skipped" in result.errors and "b.py: symlink loop, skipped" in result.errors


def test_empty_folder(tmp_path):
    result = classify_path(tmp_path)
    assert result.mode == "cpu" and result.evidence == []
    assert result.errors == [f"{tmp_path}: no Python source, requirements or platform file to classify"]


def test_missing_path_raises_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        classify_path(tmp_path / "nope")


def test_handler_with_side_effects_is_not_executed(tmp_path):
    marker = tmp_path / "executed.txt"
    write(tmp_path / "fn" / "handler.py", f"import torch\nopen({str(marker)!r}, 'w').write('ran')\nx = torch.ones(1)\n"
          f"import sys\nsys.exit(3)\nraise SystemExit('imported!')\n")
    write(tmp_path / "fn" / "helper.py", f"open({str(marker)!r}, 'w').write('helper ran')\n")
    result = classify_path(tmp_path / "fn")
    assert not marker.exists()
    assert result.mode == "cpu_preferred"
    completed = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "classify", str(tmp_path / "fn"), "--json"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and not marker.exists()


def test_cli_text_json_and_missing_path(tmp_path):
    write(tmp_path / "handler.py", GPU_HELPER)
    text = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "classify", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and text.stdout.startswith("mode: gpu (classifier)")
    assert "handler.py:2" in text.stdout
    as_json = subprocess.run([sys.executable, "-m", "gaia_faas.classifier", str(tmp_path), "--json"],
                             capture_output=True, text=True, timeout=60)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == classify_path(tmp_path).to_dict()
    missing = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "classify", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr and "Traceback" not in missing.stderr


def test_runs_standalone_as_gaia_classifier_with_the_standard_library_only(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "site" / "gaia_classifier", ignore=shutil.ignore_patterns("__pycache__"))
    write(tmp_path / "function" / "handler.py", GPU_HELPER)
    # -I: isolated mode, no site-packages and no user paths: only the standard library and the copied package.
    completed = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, 'site'); import runpy; "
                                "sys.argv = ['gaia_classifier', 'function/', '--json']; "
                                "runpy.run_module('gaia_classifier', run_name='__main__', alter_sys=True)"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["mode"] == "gpu"
    for source in PACKAGE.glob("*.py"):
        assert "gaia_faas" not in source.read_text(), f"{source.name} must not import gaia_faas"


def test_text_output_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    for index in range(200):
        write(tmp_path / f"m{index}.py", GPU_HELPER)
    completed = subprocess.run(f"{sys.executable} -m gaia_faas.cli classify {tmp_path} | head -1", shell=True,
                               capture_output=True, text=True, timeout=60)
    assert completed.stdout.startswith("mode: gpu") and "Traceback" not in completed.stderr


def test_a_single_path_that_loops_or_is_not_a_file(tmp_path):
    os.symlink(tmp_path / "loop.py", tmp_path / "loop.py")
    looped = classify_path(tmp_path / "loop.py")
    assert looped.mode == "cpu" and looped.errors == ["loop.py: symlink loop, skipped"]
    os.mkfifo(tmp_path / "pipe.py")
    fifo = classify_path(tmp_path / "pipe.py")
    assert fifo.errors == ["pipe.py: not a regular file or folder, skipped"]


def test_reading_stops_after_the_total_source_budget(tmp_path, monkeypatch):
    from gaia_faas.classifier import scan

    monkeypatch.setattr(scan, "MAX_TOTAL_BYTES", 1000)
    for index in range(5):
        write(tmp_path / f"m{index}.py", "x = 1\n" * 200)
    result = classify_path(tmp_path)
    assert "stopped after 0.001 MB of source; 4 Python files were not read" in result.errors
