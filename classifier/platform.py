"""What the platform files next to a handler say: declared hardware, the entry the platform calls, packages.

Serverless users declare hardware beside their code: `cog.yaml` (`build: gpu: true`, `cuda:`), Kubernetes
manifests (KServe, Knative, Nuclio `function.yaml`: `nvidia.com/gpu` limits, `runtimeClassName: nvidia`),
`bentofile.yaml` (`docker: cuda_version`), OpenFaaS stack files (a GPU profile), Dockerfiles (`FROM
nvidia/cuda...`, `pytorch/pytorch:*cuda*`). The same files name the entry: `predict:` in cog.yaml,
`service:` in bentofile.yaml, `handler:` in serverless.yml / stack.yml / function.yaml, `Handler:` +
`CodeUri:` in a SAM template, `scriptFile` in an Azure `function.json`, Fission's `functionName:`, a
Dockerfile's `CMD`. YAML is read line by line (standard library only): keys by indentation, which is all
these files need. Pure: text in, facts out.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import tomllib
from dataclasses import dataclass, field

from . import knowledge
from .result import Evidence

PLATFORM_YAML = re.compile(r"\.(ya?ml)$")
DOCKERFILE = re.compile(r"^(Dockerfile([.-][\w.-]+)?|[\w.-]+\.Dockerfile)$")
_KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s:#][^:#]*?)\s*:(?:\s+(.*?))?\s*$""")
GPU_IMAGE = re.compile(r"(cuda|cudnn|^nvcr\.io/nvidia/|[-_:/.]gpu([-_.:]|$)|[-_:.]cu\d{2,3}([-_.]|$)|tensorrt"
                       r"|^vllm/|text-generation-inference|tritonserver|^lmsysorg/sglang)")
# GPU models and classes named in platform settings (Modal, Beam, Truss, Cerebrium, fly.io, RunPod).
GPU_NAME = re.compile(r"^(any|t4|a10g?|a100|a40|a6000|h100|h200|b200|l4|l40s?|v100|p100|k80|rtx[\w-]*|ampere_\w+"
                      r"|ada_\w+|hopper_\w+|turing_\w+|nvidia[\w-]*|a100-\w+|l40s-\w+)(:\d+)?$", re.IGNORECASE)
_COMMAND_KEYS = {"start_command", "command", "args", "cmd", "entrypoint", "run", "script"}
_CPU_IMAGE = re.compile(r"(^public\.ecr\.aws/lambda/|[-_:]cpu([-_.]|$))")
_ENTRY_MODULE = re.compile(r"^[\w./-]+$")


@dataclass
class PlatformFacts:
    """Evidence (declared hardware), entries the platform calls (files or folders, relative to the root),
    and packages the platform installs ((file, line, requirement text))."""

    evidence: list[Evidence] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    packages: list[tuple[str, int, str]] = field(default_factory=list)
    programs: set = field(default_factory=set)  # programs the platform starts (count as using their package)


def is_platform_file(name: str) -> bool:
    return name == "function.json" or bool(DOCKERFILE.match(name)) or bool(PLATFORM_YAML.search(name)) \
        or name.endswith(".toml") and name != "pyproject.toml"


def program_verdict(words: list[str]) -> tuple[str, str, str] | None:
    """(program, detail, mode) for a command line that runs a known GPU program (vllm serve, python -m vllm..., trtexec,
    ffmpeg with NVENC), or None."""
    words = [w for w in words if w]
    if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash") and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            words = words[2].split()
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program.startswith("python") and "-m" in words[:-1]:
        program = words[words.index("-m") + 1].split(".", 1)[0]
    shown = " ".join(words[:3])
    if program in knowledge.GPU_PROGRAMS:
        return program, f"runs {knowledge.GPU_PROGRAMS[program]} (`{shown}`)", "gpu"
    if any(knowledge.GPU_PROGRAM_ARGUMENTS.search(w) for w in words[1:]):
        return program, f"runs {program} on NVIDIA hardware", "gpu"
    if program in knowledge.HEAVY_PROGRAMS:
        return program, f"runs {knowledge.HEAVY_PROGRAMS[program]} (`{shown}`)", "gpu_preferred"
    return None


def read_platform_file(rel: str, text: str, facts: PlatformFacts) -> None:
    name = rel.rsplit("/", 1)[-1]
    folder = posixpath.dirname(rel)
    if name == "function.json":
        _azure_function(rel, folder, text, facts)
    elif name.endswith(".toml"):
        _toml_file(rel, text, facts)
    elif DOCKERFILE.match(name):
        _dockerfile(rel, text, facts)
    else:
        _yaml_file(rel, folder, text, facts)


def _declare(facts: PlatformFacts, rel: str, line: int, detail: str, mode: str = "gpu_preferred") -> None:
    facts.evidence.append(Evidence(rel, line, "platform", detail, mode))


def _join(folder: str, path: str) -> str:
    joined = posixpath.normpath(posixpath.join(folder, path.strip().lstrip("/") if path.startswith("./") else path))
    return "" if joined == "." else joined


def _module_file(folder: str, module: str) -> str:
    """`src/handler` or `src.handler` -> src/handler.py (relative to the root)."""
    module = module.strip().strip("'\"")
    if module.endswith(".py"):
        return _join(folder, module)
    return _join(folder, module.replace(".", "/") + ".py")


# ---------- Azure Functions ----------
def _azure_function(rel: str, folder: str, text: str, facts: PlatformFacts) -> None:
    try:
        spec = json.loads(text)
    except ValueError:
        return
    if not isinstance(spec, dict) or "bindings" not in spec and "scriptFile" not in spec:
        return
    script = spec.get("scriptFile") or "__init__.py"
    if isinstance(script, str) and script.endswith(".py"):
        facts.entries.append(_join(folder, script))


# ---------- Dockerfiles ----------
def _dockerfile(rel: str, text: str, facts: PlatformFacts) -> None:
    args: dict[str, str] = {}
    stages: dict[str, tuple[str, int]] = {}
    final: tuple[str, int] | None = None
    lambda_image = False
    logical = _logical_lines(text)
    for number, line in logical:
        word, _, rest = line.partition(" ")
        word = word.upper()
        rest = rest.strip()
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip().strip("'\"")
        elif word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            if not parts:
                continue
            image = re.sub(r"\$\{?(\w+)(?::-[^}]*)?\}?", lambda m: args.get(m.group(1), ""), parts[0]).lower()
            if image in stages:
                image, _ = stages[image]
            final = (image, number)
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages[parts[2].lower()] = final
        elif word in ("CMD", "ENTRYPOINT"):
            _command_entry(rest, facts, lambda_image or bool(final and _CPU_IMAGE.search(final[0]) and "lambda" in final[0]))
            _command_program(rel, number, rest, facts)
        elif word == "RUN":
            for package in pip_packages(rest):
                facts.packages.append((rel, number, package))
        if final is not None:
            lambda_image = "lambda" in final[0]
    if final is None:
        return
    image, number = final
    if GPU_IMAGE.search(image) and not _CPU_IMAGE.search(image):
        _declare(facts, rel, number, f"Dockerfile builds on a CUDA image ({image})")
    elif lambda_image:
        _declare(facts, rel, number, f"AWS Lambda base image ({image}): Lambda has no GPUs", "cpu")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines, buffer, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        lines.append((start, buffer + stripped))
        buffer = ""
    if buffer:
        lines.append((start, buffer))
    return lines


def _command_entry(rest: str, facts: PlatformFacts, lambda_image: bool) -> None:
    try:
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    except ValueError:
        return
    words = [w for w in words if isinstance(w, str)]
    for word in words:
        if word.endswith(".py"):
            facts.entries.append(word.lstrip("/"))
            return
        if ":" in word and _ENTRY_MODULE.match(word.split(":", 1)[0]) and any(
                w.rsplit("/", 1)[-1] in ("uvicorn", "gunicorn", "hypercorn", "waitress-serve") for w in words):
            facts.entries.append(_module_file("", word.split(":", 1)[0]))
            return
    if lambda_image and len(words) == 1 and "." in words[0]:
        facts.entries.append(_module_file("", words[0].rsplit(".", 1)[0]))


def _command_program(rel: str, number: int, command: str, facts: PlatformFacts) -> None:
    try:
        words = json.loads(command) if command.startswith("[") else shlex.split(command)
    except ValueError:
        return
    verdict = program_verdict([w for w in words if isinstance(w, str)])
    if verdict:
        facts.programs.add(verdict[0])
        facts.evidence.append(Evidence(rel, number, "subprocess", f"the platform {verdict[1]}", verdict[2]))


def _toml_file(rel: str, text: str, facts: PlatformFacts) -> None:
    """cerebrium.toml `[cerebrium.hardware] compute = "AMPERE_A10"`, fly.toml `[[vm]] gpu_kind = "a100-40gb"`."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return
    lines = text.splitlines()
    pending = [((), data)]
    while pending:
        path, node = pending.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                pending.append((path + (str(key),), value))
                continue
            key = str(key)
            shown = str(value)
            gpu = key in ("gpu", "gpu_kind", "gpu_type", "compute", "accelerator") and isinstance(value, str) \
                and GPU_NAME.match(value) or key in ("gpu", "gpu_count", "gpus") and not isinstance(value, bool) \
                and isinstance(value, (int, float)) and value > 0
            if gpu:
                line = next((n for n, raw in enumerate(lines, 1) if raw.strip().startswith(key) and shown in raw), 1)
                _declare(facts, rel, line, f"declares {'.'.join(path + (key,))} = {shown!r}")


def pip_packages(command: str) -> list[str]:
    packages = []
    for segment in re.split(r"&&|;|\|\|", command):
        try:
            words = shlex.split(segment)
        except ValueError:
            continue
        if "install" not in words or not any(w.endswith(("pip", "pip3", "uv")) for w in words[:3]):
            continue
        skip_next = False
        for word in words[words.index("install") + 1:]:
            if skip_next:
                skip_next = False
            elif word.startswith("-"):
                skip_next = word in ("-r", "-c", "-e", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                                     "--requirement", "--constraint", "--target", "-t", "--prefix")
            elif re.match(r"^[A-Za-z0-9][\w.\-\[\],]*([<>=!~].*)?$", word):
                packages.append(word)
    return packages


# ---------- YAML platform files ----------
def yaml_items(text: str) -> list[tuple[int, tuple, str]]:
    """(line, key path, scalar value) for every `key: value` and `- value` line, by indentation."""
    items = []
    stack: list[tuple[int, str]] = []
    block_indent = None
    block_item = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raw = raw.replace("\t", "    ")
        body = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if block_indent is not None:
            if body and indent <= block_indent:
                block_indent = None
            else:  # a block scalar's text (`key: >-` / `key: |`) becomes that key's value
                line, path, value = items[block_item]
                items[block_item] = (line, path, f"{value} {body}".strip())
                continue
        if not body or body.startswith("#") or body in ("---", "..."):
            continue
        body = re.sub(r"\s+#.*$", "", body)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        while body.startswith("- ") or body == "-":
            stack.append((indent, "-"))
            indent += 2
            body = body[2:].strip()
        if not body:
            continue
        match = _KEY.match(body)
        path = tuple(k for _, k in stack)
        if match:
            key = match.group(1).strip().strip("'\"")
            value = (match.group(2) or "").strip()
            block = value in ("|", ">", "|-", ">-", "|+", ">+")
            if block:
                block_indent = indent
                block_item = len(items)
                value = ""
            items.append((number, path + (key,), _scalar(value)))
            if not value and not block:
                stack.append((indent, key))
        else:
            items.append((number, path, _scalar(body)))
    return items


def _scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _positive(value: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "yes", "on"):
        return True
    try:
        return float(text) > 0
    except ValueError:
        return False


def _yaml_file(rel: str, folder: str, text: str, facts: PlatformFacts) -> None:
    name = rel.rsplit("/", 1)[-1].lower()
    items = yaml_items(text)
    siblings: dict[tuple, dict[str, tuple[int, str]]] = {}
    for number, path, value in items:
        if path:
            siblings.setdefault(path[:-1], {})[path[-1]] = (number, value)
    top_keys = {path[0] for _, path, _ in items if path}
    is_cog = name == "cog.yaml" or {"build", "predict"} <= top_keys
    is_bento = name.startswith("bentofile")
    is_sam = any(v.startswith("AWS::Serverless") for _, _, v in items)
    is_serverless = name.startswith("serverless") or ("provider" in top_keys and "functions" in top_keys and not
                                                     any(p[:2] == ("provider", "gateway") for _, p, _ in items))
    is_stack = "functions" in top_keys and any(p[:2] == ("provider", "gateway") or p[-1] == "lang" for _, p, _ in items)
    lambda_declared = False
    for number, path, value in items:
        key = path[-1] if path else ""
        lowered = value.lower()
        # ---- hardware ----
        if key in ("nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915") and _positive(value):
            _declare(facts, rel, number, f"requests {key}: {value}")
        elif key in ("gpu", "gpus", "gpu_count", "gpuCount", "num_gpus", "use_gpu") and _positive(value) \
                and path[:1] != ("labels",):
            _declare(facts, rel, number, f"declares {'/'.join(path)}: {value}")
        elif key in ("gpu", "gpu_type", "gpuType", "gpu_kind", "compute") and GPU_NAME.match(value):
            _declare(facts, rel, number, f"declares {'/'.join(path)}: {value}")
        elif key in ("cuda", "cuda_version") and value and (is_cog or is_bento):
            _declare(facts, rel, number, f"declares {'/'.join(path)}: {value}")
        elif key in ("runtimeClassName",) and "nvidia" in lowered:
            _declare(facts, rel, number, f"runtimeClassName: {value}")
        elif key in ("driver", "runtime") and lowered == "nvidia":  # docker-compose device reservations
            _declare(facts, rel, number, f"{key}: nvidia")
        elif key == "-" and re.match(r"^(cudatoolkit|pytorch-cuda|cuda-toolkit|cuda-runtime|cudnn)\b", lowered) \
                and "dependencies" in path:  # conda environment.yml
            _declare(facts, rel, number, f"conda requires {value}")
        elif "accelerator" in key.lower() and value and value.lower() not in ("none", "false", "cpu", "0"):
            _declare(facts, rel, number, f"node selector {key}: {value}")
        elif key in ("gpuIds", "gpu_type", "gpuType") and value:
            _declare(facts, rel, number, f"declares {key}: {value}")
        elif key in ("com.openfaas.profile", "com.openfaas.profiles") and "gpu" in lowered:
            _declare(facts, rel, number, f"OpenFaaS profile {value!r}")
        elif key in ("image", "baseImage", "base_image", "from") and value and GPU_IMAGE.search(lowered) \
                and not _CPU_IMAGE.search(lowered):
            _declare(facts, rel, number, f"runs the CUDA image {value}")
        elif key in ("Runtime", "runtime") and lowered.startswith("python") and (is_sam or is_serverless):
            if not lambda_declared:
                _declare(facts, rel, number, f"AWS Lambda runtime {value}: Lambda has no GPUs", "cpu")
                lambda_declared = True
        if key in _COMMAND_KEYS and value:
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            verdict = program_verdict(words)
            if verdict:
                facts.programs.add(verdict[0])
                facts.evidence.append(Evidence(rel, number, "subprocess", f"the platform {verdict[1]}", verdict[2]))
        # ---- entries ----
        if is_cog and path == ("predict",) and ":" in value:
            facts.entries.append(_join(folder, value.split(":", 1)[0]))
        elif is_bento and path == ("service",) and value:
            facts.entries.append(_module_file(folder, value.split(":", 1)[0]))
        elif is_sam and key == "Handler" and "." in value:
            code_uri = siblings.get(path[:-1], {}).get("CodeUri", (0, ""))[1]
            facts.entries.append(_module_file(_join(folder, code_uri) if code_uri else folder, value.rsplit(".", 1)[0]))
        elif is_stack and key == "handler" and len(path) == 3 and path[0] == "functions":
            facts.entries.append(_join(folder, value).rstrip("/") + "/")
        elif is_serverless and key == "handler" and len(path) == 3 and path[0] == "functions" and "." in value:
            facts.entries.append(_module_file(folder, value.rsplit(".", 1)[0]))
        elif key == "handler" and path[:1] == ("spec",) and ":" in value:  # Nuclio function.yaml
            facts.entries.append(_module_file(folder, value.split(":", 1)[0]))
        elif key in ("functionName", "entrypoint") and "." in value and _ENTRY_MODULE.match(value):  # Fission
            facts.entries.append(_module_file(folder if not folder.endswith("specs") else posixpath.dirname(folder),
                                              value.rsplit(".", 1)[0]))
        # ---- packages ----
        if path[-2:] == ("python_packages", "-") or path[-2:] == ("packages", "-") and is_bento:
            facts.packages.append((rel, number, value))
