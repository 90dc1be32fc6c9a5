"""The template folder itself: faas-cli's view of it, the generated copies, the Dockerfile lint, the scaffold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gaia_faas import template_sync
from gaia_faas.runtime_process import TEMPLATE_DIR

REPO = Path(__file__).resolve().parent.parent
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_generated_copies_match_their_sources():
    problems = template_sync.drift(REPO)
    assert problems == [], "run `python -m gaia_faas.template_sync`:\n" + "\n".join(problems)


def test_drift_is_detected_and_repaired(tmp_path):
    for folder in ("classifier", "templates"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    template_sync.write(tmp_path)
    assert template_sync.drift(tmp_path) == []
    (tmp_path / "classifier" / "result.py").write_text("# changed\n", encoding="utf-8")
    (tmp_path / "template" / "gaia-python" / "stray.txt").write_text("x")
    assert template_sync.main(["--check", "--repo", str(tmp_path)]) == 1
    assert template_sync.drift(tmp_path) == [
        "stale templates/gaia-python/gaia_classifier/result.py",
        "stale template/gaia-python/gaia_classifier/result.py",
        "extra template/gaia-python/stray.txt",
    ]
    assert template_sync.main(["--repo", str(tmp_path)]) == 0
    assert template_sync.drift(tmp_path) == []


def test_classifier_copy_refuses_absolute_imports_of_the_package():
    try:
        template_sync.classifier_copy({"x.py": b"from gaia_faas.classifier import result\n"})
    except template_sync.SyncError as exc:
        assert "classifier/x.py imports gaia_faas" in str(exc)
    else:
        raise AssertionError("an absolute gaia_faas import must be refused")


def test_faas_cli_copy_is_a_real_folder_not_a_symlink():
    # faas-cli's `template pull` lists template/ with Lstat semantics and skips anything but folders.
    copy = REPO / "template" / "gaia-python"
    assert copy.is_dir() and not copy.is_symlink()
    assert not any(path.is_symlink() for path in copy.rglob("*"))


def test_template_yml_is_what_faas_cli_reads():
    spec = yaml.safe_load((TEMPLATE_DIR / "template.yml").read_text())
    assert spec["language"] == "gaia-python"
    assert spec["fprocess"] == "python index.py"
    assert "handler_folder" not in spec  # faas-cli's default, function/, is what the Dockerfile copies


def test_template_classifier_runs_without_the_gaia_package(tmp_path):
    # -S: no site-packages, so neither gaia_faas nor anything pip-installed is importable.
    out = subprocess.run(
        [sys.executable, "-S", "-m", "gaia_classifier", "function/", "--json"],
        cwd=TEMPLATE_DIR, capture_output=True, text=True, check=True, env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert '"mode": "cpu"' in out.stdout


def test_dockerfile_lints_clean():
    result = subprocess.run([str(HADOLINT), str(TEMPLATE_DIR / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    assert subprocess.run([str(HADOLINT), str(bad)], capture_output=True).returncode != 0


def test_scaffold_handler_test_passes_as_faas_cli_new_lays_it_out(tmp_path):
    # `faas-cli new NAME` copies function/ to ./NAME/; its test runs there with plain pytest.
    function = shutil.copytree(TEMPLATE_DIR / "function", tmp_path / "myfn")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=prepend", str(function)],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def build_step(context, *args):
    return subprocess.run(
        [sys.executable, "gaia_build.py", "function", "out.json", *args], cwd=context, capture_output=True, text=True,
    )


def test_build_step_warns_when_a_cpu_function_gets_a_gpu_image(tmp_path):
    from gaia_faas.runtime_process import assemble_build_context

    handler = tmp_path / "fn"
    handler.mkdir()
    (handler / "handler.py").write_text("def handle(event, context):\n    return 'x'\n")
    context = assemble_build_context(handler, tmp_path / "ctx")
    gpu = build_step(context, "--variant", "gpu")
    assert gpu.returncode == 0
    assert "WARNING: building the GPU image of a function classified 'cpu'" in gpu.stderr
    cpu = build_step(context, "--variant", "cpu")
    assert cpu.returncode == 0 and "WARNING" not in cpu.stderr
    assert "function is cpu:" in cpu.stdout
    declared = build_step(context, "--variant", "gpu", "--declared-mode", "gpu")
    assert declared.returncode == 0 and "WARNING" not in declared.stderr
    bad = build_step(context, "--declared-mode", "fast")
    assert bad.returncode == 2
    assert "gaia build: cannot classify function:" in bad.stderr and "Traceback" not in bad.stderr
