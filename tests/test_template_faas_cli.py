"""faas-cli's rules for template.yml build options and for `faas-cli new`, applied to this template and checkout.

Where the rules are written (faas-cli sources; /work/shared/docs/ecosystem.md §1.2, §1.3, §1.7 summarise them):
- build options: `builder/build.go`, `getBuildOptionPackages` / `getPackages` (every requested name must be a
  `build_options[].name` of ./template/<lang>/template.yml, parsed as go-sdk's `stack.LanguageTemplate`, else
  "You're using a build option unavailable for <lang>"), and `appendAdditionalPackages` (the packages, plus
  any ADDITIONAL_PACKAGE build arg split on spaces, deduplicated, sorted, space-joined into the
  ADDITIONAL_PACKAGE build arg, which is always passed);
- `faas-cli new NAME --lang L [--append FILE]`: `commands/new_function.go`, `runNewFunction` (refuses a folder
  NAME that exists, and a stack file that exists unless --append names it; copies template/L/function to
  ./NAME; with --append, adds `  NAME:\\n    lang: L\\n    handler: ./NAME\\n    image: NAME:latest` to FILE).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template" / "gaia-python"  # what faas-cli reads (the generated copy)


class FaasCliError(Exception):
    pass


def additional_package(lang: str, requested: list[str], build_args: dict[str, str], project: Path = REPO) -> str:
    """faas-cli's build-option lookup and ADDITIONAL_PACKAGE join, as written in builder/build.go."""
    template = yaml.safe_load((project / "template" / lang / "template.yml").read_text())
    available = template.get("build_options") or []
    packages: list[str] = []
    for name in requested:
        match = next((option for option in available if option.get("name") == name), None)
        if match is None:
            raise FaasCliError(f"Error: You're using a build option unavailable for {lang}.\n"
                               f"Please check /template/{lang}/template.yml for supported build options")
        packages += match.get("packages") or []
    packages += [p.strip() for p in build_args.get("ADDITIONAL_PACKAGE", "").split(" ") if p.strip()]
    return " ".join(sorted(dict.fromkeys(packages)))


def test_template_yml_defines_build_options_in_faas_clis_shape():
    template = yaml.safe_load((TEMPLATE / "template.yml").read_text())
    assert template["language"] == "gaia-python" and template["fprocess"] == "python index.py"
    names = [option["name"] for option in template["build_options"]]
    assert names == ["dev", "git", "opencv", "ffmpeg"] and len(set(names)) == len(names)
    for option in template["build_options"]:
        assert set(option) == {"name", "packages"}
        assert option["packages"] and all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", p) for p in option["packages"])


def test_build_options_and_additional_package_join_as_faas_cli_joins_them():
    assert additional_package("gaia-python", [], {}) == ""  # passed, empty
    assert additional_package("gaia-python", ["dev", "git"], {}) == "build-essential git"
    assert additional_package("gaia-python", ["ffmpeg", "opencv"], {"ADDITIONAL_PACKAGE": "curl  git"}) == \
        "curl ffmpeg git libgl1 libglib2.0-0"
    with pytest.raises(FaasCliError, match="You're using a build option unavailable for gaia-python"):
        additional_package("gaia-python", ["dev", "cuda"], {})


def test_the_dockerfile_installs_additional_package_in_the_shipped_stage():
    dockerfile = (TEMPLATE / "Dockerfile").read_text()
    ship = dockerfile[dockerfile.index(" AS ship"):]
    declared = ship.index('ARG ADDITIONAL_PACKAGE=""')
    install = ship.index("apt-get install -y --no-install-recommends ${ADDITIONAL_PACKAGE}")
    assert declared < install < ship.index("USER 10001")  # declared in the stage that uses it, run as root


def test_the_reference_stack_build_options_resolve(tmp_path):
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    for name, entry in stack["functions"].items():
        additional_package(entry["lang"], entry.get("build_options") or [], entry.get("build_args") or {})


def faas_cli_new(project: Path, name: str, lang: str, append: str | None = None) -> None:
    """runNewFunction's checks and writes (commands/new_function.go), for a local template."""
    if not (project / "template" / lang / "template.yml").is_file():
        raise FaasCliError(f"{lang} is unavailable or not supported")
    if (project / name).exists():
        raise FaasCliError(f"folder: {name} already exists")
    if append is None:
        for existing in ("stack.yaml", "stack.yml"):
            if (project / existing).exists():
                raise FaasCliError(f"{existing} already exists")
        stack_file = project / "stack.yaml"
        text = f"version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\nfunctions:\n"
    else:
        stack_file = project / append
        if name in (yaml.safe_load(re.sub(r"\$\{[^}]*\}", "x", stack_file.read_text()))["functions"] or {}):
            raise FaasCliError(f"Function {name} already exists in {append} file.")
        text = ""
    shutil.copytree(project / "template" / lang / "function", project / name)
    with open(stack_file, "a") as out:
        out.write(text + f"  {name}:\n    lang: {lang}\n    handler: ./{name}\n    image: {name}:latest\n")


def test_faas_cli_new_in_the_checkout_works_as_the_docs_say(tmp_path):
    project = tmp_path / "checkout"
    project.mkdir()
    for entry in ("template", "functions"):
        shutil.copytree(REPO / entry, project / entry, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in ("stack.yml", "stack.source.yml"):
        shutil.copy(REPO / entry, project / entry)
    with pytest.raises(FaasCliError, match="stack.yml already exists"):
        faas_cli_new(project, "resize", "gaia-python")  # what the issue saw
    docs = (REPO / "docs" / "template.md").read_text()
    assert "faas-cli new resize --lang gaia-python --append stack.source.yml" in docs
    faas_cli_new(project, "resize", "gaia-python", append="stack.source.yml")
    result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "stack", "-f", "stack.source.yml", "-o", "stack.yml"],
                            cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resize: cpu (classifier) -> resize-cpu" in result.stderr and "warning" not in result.stderr
    functions = yaml.safe_load((project / "stack.yml").read_text())["functions"]
    assert functions["resize-cpu"]["handler"] == "./resize" and "matmul-gpu" in functions
