"""Classify a handler folder or file: read what can be read safely, analyse it, decide the mode.

Reading is defensive: symlink loops, binary and non-UTF-8 files, oversized files, syntax errors and
pathologically nested code each become a message in `errors`; the mode comes from what could be read.
"""

from __future__ import annotations

import ast
import errno
import io
import os
import re
import stat
import tokenize
from dataclasses import replace
from pathlib import Path

from . import knowledge
from .analysis import Analyser, Module, Project, classify_import, collect, entry_reason
from .installed import Installed
from .platform import PlatformFacts, is_platform_file, read_platform_file
from .result import MODE_RANK, MODES, Classification, Evidence, strongest

MAX_FILE_BYTES = 2_000_000
MAX_FILES = 2_000
MAX_TOTAL_BYTES = 20_000_000  # a handler folder is far smaller; this bounds time and memory on a whole repository
SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env", ".git", ".venv", ".tox", ".mypy_cache",
             ".pytest_cache", ".ipynb_checkpoints"}
# Files a serverless platform loads as the function (OpenFaaS, Lambda, SageMaker, RunPod, Cog, BentoML, HF
# endpoints). When one is present, only it and the modules it imports count: a train.py or download script
# beside the handler does not run per request.
ENTRY_FILES = {"handler.py", "index.py", "main.py", "app.py", "lambda_function.py", "function.py", "func.py",
               "predict.py", "inference.py", "serve.py", "server.py", "service.py", "score.py", "model_handler.py",
               "rp_handler.py", "__main__.py", "function_app.py"}
REQUIREMENTS = re.compile(r"^requirements[\w.-]*\.(txt|in)$")
MAX_PLATFORM_FILES = 200

_DECLARATION = re.compile(r"^[^'\"#\n]*#\s*gaia\s*:\s*mode\s*=\s*([\w-]+)", re.MULTILINE)
_LEXICAL_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)
_LEXICAL_CUDA = re.compile(r"\.cuda\(\s*\)|\.to\(\s*['\"]cuda")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")

# Kinds that describe how much work a request does; they only count next to a local DL/tensor framework
# (a `max_tokens=` for a hosted API, or a model id sent to a remote service, runs no local compute).
_WORKLOAD_KINDS = {"heavy_model", "light_model", "generation_length", "batch", "tensor_shape", "training",
                   "image_size"}
# Kinds that show work running in the handler (device questions, declarations and unused imports do not).
_WORK_KINDS = {"framework", "gpu_library", "gpu_library_optional", "requirement", "heavy_model", "light_model",
               "tensor_shape", "training", "generation_length", "batch", "subprocess", "cuda", "cuda_portable",
               "image_size", "half_precision"}
_KIND_ORDER = ["declaration", "device_query", "cuda", "gpu_library", "subprocess", "requirement", "heavy_model",
               "training", "generation_length", "tensor_shape", "image_size", "batch", "platform",
               "gpu_library_optional", "half_precision", "cuda_portable", "light_model", "framework", "library",
               "import_unused", "unknown_library", "unknown_program"]


def classify_path(path, declared_mode: str | None = None, site_paths: list[str] | None = None,
                  installed: bool = True) -> Classification:
    """Classify a handler folder or one file. `declared_mode` (the `com.gaia.mode` annotation) wins if given.

    Imports the knowledge tables do not know are resolved against the distributions installed on
    `site_paths` (default: this interpreter's `sys.path`); `installed=False` uses the tables only."""
    if declared_mode is not None and declared_mode not in MODES:
        raise ValueError(f"declared mode {declared_mode!r} is not one of {', '.join(MODES)}")
    root = Path(path)
    if not os.path.lexists(root):
        raise FileNotFoundError(f"{path}: no such file or folder")
    errors: list[str] = []
    sources, requirement_files, platform_files = _gather(root, errors)
    modules: list[Module] = []
    evidence: list[Evidence] = []
    frameworks: set[str] = set()
    read_bytes = 0
    for index, (rel, full) in enumerate(sources):
        if read_bytes > MAX_TOTAL_BYTES:
            errors.append(f"stopped after {MAX_TOTAL_BYTES / 1e6:g} MB of source; {len(sources) - index} "
                          f"Python files were not read")
            break
        text = _read_text(full, rel, errors)
        if text is None:
            continue
        read_bytes += len(text)
        evidence += _declarations(text, rel, errors)
        module = _parse(text, rel, errors, evidence, frameworks)
        if module is not None:
            modules.append(module)
    requirements: list[tuple[Evidence, set]] = []
    for rel, full in requirement_files:
        text = _read_text(full, rel, errors)
        if text is not None:
            requirements += _requirements(text, rel, frameworks)
    platform = PlatformFacts()
    for rel, full in platform_files:
        text = _read_text(full, rel, errors)
        if text is not None:
            read_platform_file(rel, text, platform)
    evidence += platform.evidence
    for rel, line, package in platform.packages:
        requirements += _requirement_line(package, rel, line, frameworks)
    project = Project(modules, Installed.for_paths(site_paths) if installed else None)
    entries, how = _entries(modules, platform.entries)
    counted = project.reachable(entries) if entries else {m.rel for m in modules}
    project.counted = counted
    for module in modules:
        Analyser(project, module).bind_arguments()
    used_modules: set[str] = set(platform.programs)
    for module in modules:
        analyser = Analyser(project, module)
        try:
            analyser.run()
        except RecursionError:
            errors.append(f"{module.rel}: code too deeply nested to analyse completely")
        errors += module.errors
        if module.rel in counted:
            evidence += analyser.evidence
            frameworks |= analyser.frameworks
            used_modules |= {qualified.split(".", 1)[0] for qualified, local, _, _ in module.import_sites
                             if local == "*" or local in module.loaded} | analyser.programs
            for line, package in analyser.packages:
                requirements += _requirement_line(package, module.rel, line, frameworks)
        else:
            entry_names = ", ".join(m.rel for m in entries)
            # A deployment script (SageMaker `model.deploy(instance_type=...)`) declares hardware without being
            # imported by the entry: its declarations count, its code does not.
            evidence += [item for item in analyser.evidence if item.kind == "platform"]
            evidence += [replace(item, mode="cpu", detail=f"{item.detail} (not imported by {entry_names} {how}: "
                                                          f"not counted)")
                         for item in analyser.evidence if item.mode != "cpu" and item.kind != "platform"]
    for item, wanted in requirements:
        if item.mode != "cpu" and not wanted & used_modules:
            item = replace(item, mode="cpu", detail=f"{item.detail} (never imported or run: not counted)")
        evidence.append(item)
    if not sources and not requirement_files and not platform_files and not errors:
        errors.append(f"{path}: no Python source, requirements or platform file to classify")
    return decide(evidence, sorted(frameworks), errors, declared_mode)


def _entries(modules: list[Module], declared: list[str]) -> tuple[list[Module], str]:
    """The modules the platform calls, and how they were found: named by a platform file (cog.yaml, function.json,
    serverless.yml, a Dockerfile's CMD, ...), else marked in the code (runpod.serverless.start, Modal decorators,
    handler signatures), else by file name (top-level names before those one folder down)."""
    by_rel = {m.rel: m for m in modules}
    found: list[Module] = []
    for wanted in declared:
        if wanted.endswith("/"):
            inside = [m for m in modules if m.rel.startswith(wanted)]
            named = [m for m in inside if m.rel.rsplit("/", 1)[-1] in ENTRY_FILES or entry_reason(m)]
            found += named or inside
        elif wanted in by_rel:
            found.append(by_rel[wanted])
        else:
            base = wanted.rsplit("/", 1)[-1]
            same = sorted((m for m in modules if m.rel.rsplit("/", 1)[-1] == base), key=lambda m: m.rel.count("/"))
            found += same[:1]
    if found:
        return list({m.rel: m for m in found}.values()), "(the entry its platform files name)"
    marked = [m for m in modules if entry_reason(m)]
    if marked:
        return marked, "(the platform's entry)"
    named = [m for m in modules if m.rel.rsplit("/", 1)[-1] in ENTRY_FILES and m.rel.count("/") <= 1]
    top = [m for m in named if "/" not in m.rel]
    return (top or named), "(the entry file)"


def decide(evidence: list[Evidence], frameworks: list[str], errors: list[str],
           declared_mode: str | None = None) -> Classification:
    """The strongest supported mode, after putting context-dependent signals in context. Pure."""
    kinds = {item.kind for item in evidence}
    work = any(item.kind in _WORK_KINDS and item.mode != "cpu" for item in evidence)
    unknown_code = bool(kinds & {"unknown_library", "unknown_program"})
    local_compute = bool(kinds & {"framework", "import_unused", "gpu_library", "gpu_library_optional", "cuda",
                                  "cuda_portable"}) or \
        any(item.kind == "library" and "numpy" in item.detail for item in evidence)
    targets_cuda = bool(kinds & {"cuda", "cuda_portable"})
    # Half precision for CUDA hints at heavy work, unless the model's size is known and light.
    sized_light = "light_model" in kinds and "heavy_model" not in kinds
    adjusted = []
    for item in evidence:
        if item.kind in _WORKLOAD_KINDS and not local_compute:
            item = replace(item, mode="cpu", detail=item.detail + " (no local tensor framework: not counted)")
        elif item.kind == "half_precision" and targets_cuda and not sized_light:
            item = replace(item, mode="gpu_preferred", detail=item.detail + " for CUDA")
        elif item.kind == "device_query" and item.mode != "cpu" and not work:
            item = replace(item, mode="cpu", detail=item.detail + " (asks about the device; no work runs on it)")
        elif item.kind == "platform" and item.mode != "cpu" and not work and not unknown_code:
            item = replace(item, mode="cpu", detail=item.detail + " (but the code runs no GPU-capable work)")
        adjusted.append(item)
    adjusted = _dedupe(adjusted)
    adjusted.sort(key=lambda e: (-MODE_RANK[e.mode], _rank(e.kind), e.file, e.line))

    declarations = [item for item in adjusted if item.kind == "declaration"]
    if declared_mode is not None:
        mode, declared = declared_mode, True
        rationale = f"{mode}: declared by the com.gaia.mode annotation"
    elif declarations:
        mode, declared = strongest(item.mode for item in declarations), True
        first = next(item for item in declarations if item.mode == mode)
        rationale = f"{mode}: declared by the author ({first.file}:{first.line})"
    else:
        declared = False
        mode = strongest(item.mode for item in adjusted)
        rationale = _rationale(mode, adjusted)
    return Classification(mode, rationale, adjusted, list(frameworks), errors, declared)


def _rank(kind: str) -> int:
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    best: dict[tuple, Evidence] = {}
    for item in evidence:
        key = (item.file, item.line, item.kind)
        if key not in best or MODE_RANK[item.mode] > MODE_RANK[best[key].mode]:
            best[key] = item
    return list(best.values())


def _rationale(mode: str, evidence: list[Evidence]) -> str:
    supporting = [item for item in evidence if item.mode == mode]
    if not supporting:
        return "cpu: no deep-learning or tensor framework in use"
    top = supporting[0]
    more = len(supporting) - 1
    suffix = f" (+{more} more)" if more else ""
    return f"{mode}: {top.detail} at {top.file}:{top.line}{suffix}"


def _gather(root: Path, errors: list[str]):
    """(relative name, path) of Python sources and requirements files, never following a link twice."""
    if not root.is_dir():
        try:
            mode = root.stat().st_mode
        except OSError as error:
            reason = "symlink loop" if error.errno == errno.ELOOP else f"cannot read ({error.strerror or error})"
            errors.append(f"{root.name}: {reason}, skipped")
            return [], [], []
        if not stat.S_ISREG(mode):
            errors.append(f"{root.name}: not a regular file or folder, skipped")
            return [], [], []
        if REQUIREMENTS.match(root.name):
            return [], [(root.name, root)], []
        return [(root.name, root)], [], []
    sources, requirements, platform = [], [], []
    seen = set()
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                errors.append(f"{prefix.rstrip('/') or '.'}: symlink loop (folder already visited), skipped")
                continue
            seen.add(real)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            errors.append(f"{prefix.rstrip('/') or '.'}: cannot list folder ({error.strerror or error})")
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            try:
                is_dir = entry.is_dir()
                is_file = entry.is_file()
            except OSError as error:
                reason = "symlink loop" if error.errno == errno.ELOOP else f"cannot read ({error.strerror or error})"
                errors.append(f"{rel}: {reason}, skipped")
                continue
            if is_dir:
                if entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                    pending.append((Path(entry.path), rel + "/"))
            elif is_file:
                if entry.name.endswith(".py"):
                    sources.append((rel, Path(entry.path)))
                elif REQUIREMENTS.match(entry.name):
                    requirements.append((rel, Path(entry.path)))
                elif is_platform_file(entry.name) and len(platform) < MAX_PLATFORM_FILES:
                    platform.append((rel, Path(entry.path)))
            elif entry.is_symlink():
                errors.append(f"{rel}: broken or looping symlink, skipped")
        if len(sources) > MAX_FILES:
            errors.append(f"more than {MAX_FILES} Python files; only the first {MAX_FILES} were read")
            del sources[MAX_FILES:]
            break
    sources.sort()
    platform.sort()
    return sources, requirements, platform


def _read_text(path: Path, rel: str, errors: list[str]) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            errors.append(f"{rel}: {size / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit "
                          f"for one file, skipped")
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        errors.append(f"{rel}: cannot read ({error.strerror or error}), skipped")
        return None
    if b"\0" in data[:8192]:
        errors.append(f"{rel}: binary file (contains NUL bytes), skipped")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            if encoding not in ("utf-8", "utf-8-sig"):
                return data.decode(encoding)
        except (SyntaxError, LookupError, UnicodeDecodeError):
            pass
        errors.append(f"{rel}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}), skipped")
        return None


def _declarations(text: str, rel: str, errors: list[str]) -> list[Evidence]:
    if "gaia" not in text:
        return []
    found = []
    for match in _DECLARATION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        value = match.group(1)
        if value in MODES:
            found.append(Evidence(rel, line, "declaration", f"`# gaia: mode={value}`", value))
        else:
            errors.append(f"{rel}:{line}: `# gaia: mode={value}` is not a mode (expected one of "
                          f"{', '.join(MODES)}); ignored")
    return found


def _parse(text: str, rel: str, errors: list[str], evidence: list[Evidence], frameworks: set[str]) -> Module | None:
    try:
        tree = ast.parse(text, filename=rel)
    except SyntaxError as error:
        errors.append(f"{rel}:{error.lineno or '?'}: syntax error ({error.msg}); read imports and CUDA calls "
                      f"by text only")
    except (RecursionError, MemoryError, ValueError):
        errors.append(f"{rel}: too deeply nested or malformed to parse; read imports and CUDA calls by text only")
    else:
        try:
            return collect(tree, rel)
        except RecursionError:
            errors.append(f"{rel}: too deeply nested to analyse; read imports and CUDA calls by text only")
    evidence += _lexical(text, rel, frameworks)
    return None


def _lexical(text: str, rel: str, frameworks: set[str]) -> list[Evidence]:
    """A line-by-line reading for files that do not parse (Python 2 handlers, merge conflicts)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        match = _LEXICAL_IMPORT.match(code)
        if match:
            label, category = classify_import(match.group(1) or match.group(2))
            if label:
                frameworks.add(label)
                mode = {"gpu": "gpu", "dl": "cpu_preferred"}.get(category, "cpu")
                kind = {"gpu": "gpu_library", "dl": "framework"}.get(category, "library")
                found.append(Evidence(rel, number, kind, f"imports {label} (read as text)", mode))
        if _LEXICAL_CUDA.search(code):
            found.append(Evidence(rel, number, "cuda", "unconditional CUDA (read as text)", "gpu"))
    return found


def _requirements(text: str, rel: str, frameworks: set[str]) -> list[tuple[Evidence, set]]:
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        found += _requirement_line(raw.split(" #", 1)[0], rel, number, frameworks)
    return found


def _requirement_line(line: str, rel: str, number: int, frameworks: set[str]) -> list[tuple[Evidence, set]]:
    """Evidence from one requirement (requirements files, cog python_packages, Modal pip_install, Dockerfile
    `pip install`) and the import names it stands for: it counts only if the code imports or runs one of them."""
    line = line.strip()
    if not line or line.startswith("#"):
        return []
    if line.startswith("-"):
        if re.search(r"download\.pytorch\.org/whl/cu\d+", line):
            return [(Evidence(rel, number, "platform", "requests the CUDA build of torch", "gpu_preferred"),
                     {"torch", "torchvision", "torchaudio"})]
        return []
    match = _REQUIREMENT.match(line)
    if not match:
        return []
    name = match.group(1).lower().replace("_", "-")
    extras = tuple(e.strip().lower() for e in (match.group(2) or "").split(",") if e.strip())
    modules = {knowledge.REQUIREMENT_MODULES.get(name, name.replace("-", "_").split("-")[0])}
    if name.startswith("cupy"):
        modules.add("cupy")
    if name.startswith(("cudf", "cuml", "cugraph", "cucim", "dask-cudf")):
        modules.add(name.split("-cu")[0].replace("-", "_"))
    if name.startswith("nvidia-dali"):
        modules.add("nvidia")
    label, _ = classify_import(next(iter(modules)))
    if label:
        frameworks.add(label)
    if knowledge.gpu_requirement(name, extras):
        shown = f"{name}[{','.join(extras)}]" if extras else name
        frameworks.add(shown)
        return [(Evidence(rel, number, "requirement", f"requires GPU-only package {shown}", "gpu"), modules)]
    if re.search(r"\+cu\d", match.group(3) or ""):
        return [(Evidence(rel, number, "platform", f"requires the CUDA build {line}", "gpu_preferred"), modules)]
    if name in knowledge.PORTABLE_GPU_REQUIREMENTS:
        return [(Evidence(rel, number, "cuda_portable", f"requires GPU build {line}", "cpu_preferred"), modules)]
    return []
