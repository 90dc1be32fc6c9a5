"""`gaia stack`: turn each `lang: gaia-python` function of a stack.yml into its CPU/GPU variants.

A function classified (or declared) `cpu` gets only `NAME-cpu`, `gpu` only `NAME-gpu`, the two
`*_preferred` modes get both. Other functions and top-level fields pass through unchanged. Variants
written by an earlier run are recognised by their `com.gaia.variant` label and kept, so running the
command on its own output changes nothing. `--knative` writes one Knative Service per variant instead.

Library use (local runs): `expand_stack(stack_dict, base_dir)` returns the new stack and, per logical
function, its variants, handler folder, mode and `com.gaia.*` annotations.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

LANG = "gaia-python"
VARIANTS = ("cpu", "gpu")
MODES = ("cpu", "cpu_preferred", "gpu_preferred", "gpu")
VARIANTS_BY_MODE = {"cpu": ("cpu",), "cpu_preferred": ("cpu", "gpu"), "gpu_preferred": ("cpu", "gpu"), "gpu": ("gpu",)}
# faas-cli's rule for function names (a Kubernetes DNS label); variants add 4 characters.
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63 - len("-cpu")

LABEL_FUNCTION = "com.gaia.function"
LABEL_VARIANT = "com.gaia.variant"
MODE = "com.gaia.mode"
MODE_SOURCE = "com.gaia.mode-source"
RATIONALE = "com.gaia.rationale"
GPU_IDLE = "com.gaia.gpu-idle"
DEFAULT_GPU_IDLE = "15m"
NUMERIC_ANNOTATIONS = {
    "com.gaia.slo-ms": (0, None),
    "com.gaia.slo-percentile": (0, 100),
    "com.gaia.price-cpu": (0, None),
    "com.gaia.price-gpu": (0, None),
}
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
PROFILE_ANNOTATION = "com.openfaas.profile"
# Event connectors invoke every listed function whose annotations carry `topic` (and, for the cron-connector,
# `schedule`). On the variants they would fire twice, past the plugin; renamed, only the logical function the
# plugin lists for them (gateway_plugin/connectors.py) carries them, and the event goes through routing once.
EVENT_ANNOTATIONS = {"topic": "com.gaia.topic", "schedule": "com.gaia.schedule"}
CE_FUNCTION_LIMIT = 15
# OpenFaaS CE (`--ce`). Its liveness probe is the readiness check (GET /_/health, chart defaults: no initial
# delay, every 2 s, 3 failures), so a lock written only once the model is loaded restarts any pod whose load
# takes longer than about 6 s. The watchdog writes its lock as it starts listening instead, and the runtime
# keeps "model loaded" in a file of its own, which /_/ready (the watchdog's ready_path) still reports.
# CE also cannot give NAME-gpu a GPU (docs/platforms.md): until `kubectl patch` does, it runs on the CPU and
# says so in /_/gaia, instead of exiting and crash-looping.
CE_ENVIRONMENT = {"suppress_lock": "false", "GAIA_READY_LOCK": "/tmp/.gaia-ready"}
CE_GPU_ENVIRONMENT = {"GAIA_ALLOW_CPU_FALLBACK": "1"}

# Fields of the source function that the variants rewrite; every other field is copied to both.
REWRITTEN_FIELDS = {"lang", "handler", "image", "build_args", "labels", "annotations"}
MAPPING_FIELDS = ("labels", "annotations", "environment", "build_args", "limits", "requests")


class StackError(Exception):
    """The stack cannot be expanded; the message names the offending field."""


@dataclass
class Variant:
    name: str  # "matmul-gpu": the OpenFaaS function / Knative Service name
    variant: str  # "cpu" or "gpu"
    image: str
    entry: dict  # the stack.yml function entry


@dataclass
class GaiaFunction:
    name: str  # the logical name clients call
    handler: Path  # the handler folder, resolved against the stack file's folder
    mode: str
    mode_source: str  # "declared" or "classifier"
    rationale: str
    annotations: dict[str, str]  # the com.gaia.* annotations both variants carry
    variants: dict[str, Variant] = field(default_factory=dict)  # keyed "cpu" / "gpu"


@dataclass
class Expansion:
    stack: dict  # the stack with every gaia-python source replaced by its variants
    functions: list[GaiaFunction]
    warnings: list[str] = field(default_factory=list)  # likely typos: accepted, but probably not what was meant


# -- likely typos (warnings, not errors: a later Gaia may know the key) ------------------------------------------
STACK_ANNOTATIONS = (MODE_SOURCE, RATIONALE, GPU_IDLE)
GAIA_LABELS = (LABEL_FUNCTION, LABEL_VARIANT)


def known_annotations() -> set[str]:
    """Every com.gaia.* annotation something reads: the controller's knobs (read from controller_config, so a
    knob added there is known here) and the ones `gaia stack` itself writes or reads."""
    from gaia_faas.gateway_plugin.controller_config import ANNOTATIONS
    from gaia_faas.gateway_plugin.size_feature import SIZE_FROM

    return set(ANNOTATIONS.values()) | set(STACK_ANNOTATIONS) | set(EVENT_ANNOTATIONS.values()) | {SIZE_FROM}


def _closest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def gaia_key_warnings(where: str, labels: dict[str, str], annotations: dict[str, str]) -> list[str]:
    """Unknown com.gaia.* annotations and labels, each with the closest known name (pure)."""
    known = known_annotations()
    found = []
    for key in annotations:
        if key.startswith("com.gaia.") and key not in known:
            found.append(f"{where}.annotations.{key} is not a Gaia setting and is ignored{_closest(key, known)}")
    for key in labels:
        if key in known:
            found.append(f"{where}.labels.{key} is read from annotations, not labels: move it to annotations")
        elif key.startswith("com.gaia.") and key not in GAIA_LABELS:
            found.append(f"{where}.labels.{key} is not a Gaia label and is ignored{_closest(key, known | set(GAIA_LABELS))}")
    return found


def lang_warning(name: str, entry: dict) -> str | None:
    """A `lang:` one typo away from gaia-python, which would pass through without variants (pure)."""
    lang = entry.get("lang")
    if not isinstance(lang, str) or lang == LANG:
        return None
    if difflib.SequenceMatcher(None, lang.lower(), LANG).ratio() >= 0.8:
        return (f"functions.{name}.lang: {lang!r} is not {LANG}, so {name} passes through without CPU/GPU variants; "
                f"did you mean {LANG}?")
    return None


_templates = Environment(
    loader=PackageLoader("gaia_faas", "stack_templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
PLAIN_SCALAR = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def yaml_string(value) -> str:
    """``value`` as a YAML scalar that reads back as this exact string: plain when safe, else JSON-quoted."""
    text = str(value)
    if PLAIN_SCALAR.fullmatch(text) and text.lower() not in YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar


_templates.filters["q"] = yaml_string
# Fields copied as they are (lists, mappings); JSON is YAML, and unlike `tojson` this keeps key order.
_templates.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)


def _mapping(entry: dict, key: str, where: str) -> dict:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StackError(f"{where}.{key} must be a mapping, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if isinstance(v, (dict, list)) or v is None:
            raise StackError(f"{where}.{key}.{k} must be a string, got {'null' if v is None else type(v).__name__}")
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _check_gaia_annotations(annotations: dict[str, str], where: str) -> None:
    mode = annotations.get(MODE)
    if mode is not None and mode not in MODES:
        raise StackError(f"{where}.annotations.{MODE} must be one of {', '.join(MODES)}, got {mode!r}")
    for key, (low, high) in NUMERIC_ANNOTATIONS.items():
        if key not in annotations:
            continue
        try:
            number = float(annotations[key])
        except ValueError:
            number = float("nan")
        if not (number > low and (high is None or number < high)) and not (key.startswith("com.gaia.price") and number == 0):
            bounds = f"between {low} and {high}" if high is not None else f"greater than {low}"
            raise StackError(f"{where}.annotations.{key} must be a number {bounds}, got {annotations[key]!r}")
    from gaia_faas.gateway_plugin.size_feature import SIZE_FROM, SizeFromError, parse_size_from

    if SIZE_FROM in annotations:
        try:
            parse_size_from(annotations[SIZE_FROM])
        except SizeFromError as exc:
            raise StackError(f"{where}.annotations.{exc}") from None
    idle = annotations.get(GPU_IDLE)
    if idle is not None and not GO_DURATION.match(idle):
        raise StackError(f"{where}.annotations.{GPU_IDLE} must be a duration like 15m or 90s, got {idle!r}")


def variant_image(image: str, variant: str, where: str) -> str:
    """`reg/matmul:1.2` -> `reg/matmul-gpu:1.2` (pure)."""
    if "@" in image:
        raise StackError(f"{where}.image must be a tag, not a digest ({image!r}): each variant is its own image")
    slash = image.rfind("/")
    colon = image.rfind(":")
    repo, tag = (image[:colon], image[colon:]) if colon > slash else (image, "")
    if not repo or repo.endswith("/"):
        raise StackError(f"{where}.image is not an image reference: {image!r}")
    return f"{repo}-{variant}{tag}"


def _classify(handler: Path, declared: str | None):
    from gaia_faas.classifier import classify_path

    return classify_path(handler, declared_mode=declared)


def _source_function(name: str, entry: dict, base_dir: Path) -> GaiaFunction:
    where = f"functions.{name}"
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME:
        raise StackError(
            f"{where}: the name must be lower-case letters, digits and '-', at most {MAX_NAME} characters "
            "(a variant appends -cpu or -gpu)"
        )
    handler = entry.get("handler")
    if not isinstance(handler, str) or not handler.strip():
        raise StackError(f"{where}.handler must name the handler folder")
    handler_dir = (base_dir / handler).resolve()
    if not handler_dir.is_dir():
        raise StackError(f"{where}.handler: folder {handler} not found (looked in {handler_dir})")
    if not isinstance(entry.get("image"), str) or not entry["image"].strip():
        raise StackError(f"{where}.image must be an image reference such as registry/{name}:latest")
    for key in MAPPING_FIELDS:
        _mapping(entry, key, where)
    annotations = _mapping(entry, "annotations", where)
    _check_gaia_annotations(annotations, where)
    for plain, gaia_key in EVENT_ANNOTATIONS.items():
        if plain in annotations:
            annotations.setdefault(gaia_key, annotations[plain])
    declared = annotations.get(MODE)
    result = _classify(handler_dir, declared)
    gaia_annotations = {k: v for k, v in annotations.items() if k.startswith("com.gaia.")}
    mode_source = "declared" if declared else "classifier"
    gaia_annotations.update({MODE: result.mode, MODE_SOURCE: mode_source, RATIONALE: " ".join(result.rationale.split())})
    return GaiaFunction(name, handler_dir, result.mode, mode_source, gaia_annotations[RATIONALE], gaia_annotations)


def _variant_entry(function: GaiaFunction, entry: dict, variant: str, gpu_profile: str, ce: bool = False) -> Variant:
    where = f"functions.{function.name}"
    labels = _mapping(entry, "labels", where)
    annotations = {k: v for k, v in _mapping(entry, "annotations", where).items() if k not in EVENT_ANNOTATIONS}
    annotations.update(function.annotations)
    labels.update({LABEL_FUNCTION: function.name, LABEL_VARIANT: variant})
    # The start variant stays warm; an idle GPU variant gives its GPU back (OpenFaaS Pro autoscaler; CE ignores both).
    labels.setdefault("com.openfaas.scale.min", "1")
    labels.setdefault("com.openfaas.scale.zero", "true" if variant == "gpu" else "false")
    if variant == "gpu":
        labels.setdefault("com.openfaas.scale.zero-duration", function.annotations.get(GPU_IDLE, DEFAULT_GPU_IDLE))
    if variant == "gpu" and not ce:  # CE ignores Profiles
        profiles = [p.strip() for p in annotations.get(PROFILE_ANNOTATION, "").split(",") if p.strip()]
        if gpu_profile not in profiles:
            profiles.append(gpu_profile)  # a later profile wins, so the GPU one goes last
        annotations[PROFILE_ANNOTATION] = ",".join(profiles)
    build_args = _mapping(entry, "build_args", where)
    build_args["GAIA_VARIANT"] = variant
    if function.mode_source == "declared":
        build_args["GAIA_DECLARED_MODE"] = function.mode
    image = variant_image(entry["image"].strip(), variant, where)
    passthrough = {k: v for k, v in entry.items() if k not in REWRITTEN_FIELDS}
    if ce:  # the function's own environment wins
        passthrough["environment"] = {**CE_ENVIRONMENT, **(CE_GPU_ENVIRONMENT if variant == "gpu" else {}),
                                      **_mapping(entry, "environment", where)}
    text = _templates.get_template("openfaas_variant.yml.j2").render(
        source=entry,
        image=image,
        passthrough=passthrough,
        build_args=build_args,
        labels=labels,
        annotations=annotations,
    )
    return Variant(f"{function.name}-{variant}", variant, image, yaml.safe_load(text))


def _generated_variant(name: str, entry: dict, base_dir: Path) -> tuple[str, Variant, dict[str, str], Path]:
    where = f"functions.{name}"
    labels = _mapping(entry, "labels", where)
    variant = labels[LABEL_VARIANT]
    if variant not in VARIANTS:
        raise StackError(f"{where}.labels.{LABEL_VARIANT} must be cpu or gpu, got {variant!r}")
    logical = labels.get(LABEL_FUNCTION, "")
    if name != f"{logical}-{variant}":
        raise StackError(f"{where}: a generated variant must be named <{LABEL_FUNCTION}>-{variant}, not {name!r}")
    annotations = _mapping(entry, "annotations", where)
    _check_gaia_annotations(annotations, where)
    if annotations.get(MODE) not in MODES:
        raise StackError(f"{where}.annotations.{MODE} is missing: regenerate it from its source function")
    handler = entry.get("handler")
    if not isinstance(handler, str):
        raise StackError(f"{where}.handler must name the handler folder")
    gaia = {k: v for k, v in annotations.items() if k.startswith("com.gaia.")}
    return logical, Variant(name, variant, str(entry.get("image", "")), entry), gaia, (base_dir / handler).resolve()


def expand_stack(stack: dict, base_dir: Path | str = ".", *, gpu_profile: str = "gpu", ce: bool = False) -> Expansion:
    """Expand a parsed stack.yml (pure apart from reading handler folders to classify them).

    ``ce``: for OpenFaaS CE (CE_ENVIRONMENT, CE_GPU_ENVIRONMENT; no GPU Profile).
    """
    base_dir = Path(base_dir)
    if not isinstance(stack, dict):
        raise StackError("the stack file must be a mapping with a functions: section")
    provider = stack.get("provider")
    if isinstance(provider, dict) and provider.get("name", "openfaas") != "openfaas":
        raise StackError(f"provider.name must be openfaas, got {provider.get('name')!r}")
    functions = stack.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise StackError("functions must be a mapping of function names to entries")
    for name, entry in functions.items():
        if not isinstance(entry, dict):
            raise StackError(f"functions.{name} must be a mapping")

    warnings = [w for n, e in functions.items() if (w := lang_warning(n, e))]
    sources = [n for n, e in functions.items() if e.get("lang") == LANG and LABEL_VARIANT not in (e.get("labels") or {})]
    generated = {n for n, e in functions.items() if e.get("lang") == LANG and n not in sources}
    by_name: dict[str, GaiaFunction] = {}
    new_functions: dict = {}
    for name, entry in functions.items():
        if name in sources or name in generated:
            warnings += gaia_key_warnings(f"functions.{name}", _mapping(entry, "labels", f"functions.{name}"),
                                          _mapping(entry, "annotations", f"functions.{name}"))
        if name in sources:
            function = _source_function(name, entry, base_dir)
            for variant in VARIANTS_BY_MODE[function.mode]:
                built = _variant_entry(function, entry, variant, gpu_profile, ce)
                clash = functions.get(built.name)
                if clash is not None and built.name not in generated:
                    raise StackError(f"functions.{built.name} already exists and is not a variant of functions.{name}")
                function.variants[variant] = built
                new_functions[built.name] = built.entry
            by_name[name] = function
        elif name in generated:
            logical, variant, gaia, handler = _generated_variant(name, entry, base_dir)
            if logical in sources:
                continue  # regenerated from its source above or below
            if logical not in by_name:
                by_name[logical] = GaiaFunction(
                    logical, handler, gaia[MODE], gaia.get(MODE_SOURCE, "classifier"), gaia.get(RATIONALE, ""), gaia
                )
            by_name[logical].variants[variant.variant] = variant
            new_functions[name] = entry
        else:
            new_functions[name] = entry
    return Expansion({**stack, "functions": new_functions}, list(by_name.values()), warnings)


def knative_services(expansion: Expansion, namespace: str | None = None) -> str:
    """One Knative Service manifest per variant, as a multi-document YAML string."""
    documents = []
    for function in expansion.functions:
        for variant in function.variants.values():
            entry = variant.entry
            where = f"functions.{variant.name}"
            labels = {LABEL_FUNCTION: function.name, LABEL_VARIANT: variant.variant}
            limits = _mapping(entry, "limits", where)
            autoscaling = {"autoscaling.knative.dev/min-scale": "1"}
            if variant.variant == "gpu":
                limits["nvidia.com/gpu"] = "1"
                autoscaling = {
                    "autoscaling.knative.dev/min-scale": "0",
                    "autoscaling.knative.dev/scale-to-zero-pod-retention-period": function.annotations.get(
                        GPU_IDLE, DEFAULT_GPU_IDLE
                    ),
                }
            documents.append(
                _templates.get_template("knative_service.yaml.j2").render(
                    name=variant.name,
                    namespace=namespace,
                    labels=labels,
                    annotations=function.annotations,
                    autoscaling=autoscaling,
                    image=variant.image,
                    environment=_mapping(entry, "environment", where),
                    limits=limits,
                    requests=_mapping(entry, "requests", where),
                )
            )
    return "---\n".join(documents)


def routes_file(expansion: Expansion, namespace: str | None = None) -> str:
    """The static routes file (docs/design.md) for the Knative Services: in-cluster URL per variant."""
    functions = {
        function.name: {
            "variants": {
                v.variant: f"http://{v.name}.{namespace or 'default'}.svc.cluster.local" for v in function.variants.values()
            },
            "annotations": function.annotations,
        }
        for function in expansion.functions
    }
    return yaml.safe_dump({"functions": functions}, sort_keys=False, allow_unicode=True, width=1000)


def load_stack(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StackError(f"{path} is not valid YAML: {exc}") from None


def dump_stack(stack: dict, source: str) -> str:
    header = f"# Written by `gaia stack` from {source}; edit the source and run it again.\n"
    return header + yaml.safe_dump(stack, sort_keys=False, allow_unicode=True, width=1000)


def _default_input() -> Path:
    # faas-cli's order when no -f is given.
    for name in ("stack.yaml", "stack.yml"):
        if Path(name).is_file():
            return Path(name)
    return Path("stack.yaml")


def add_arguments(parser) -> None:
    parser.add_argument("-f", "--file", type=Path, help="source stack file (default: stack.yaml, then stack.yml)")
    parser.add_argument(
        "-o", "--output",
        help="where to write (default: gaia-stack.yml, or gaia-knative.yaml with --knative, beside the source; '-' for stdout)",
    )
    parser.add_argument("--knative", action="store_true", help="write Knative Services for the variants instead")
    parser.add_argument("--namespace", help="metadata.namespace of the Knative Services (default: none, kubectl's)")
    parser.add_argument(
        "--routes", type=Path,
        help="with --knative: also write the gateway plugin's static routes file (in-cluster URLs) here",
    )
    parser.add_argument("--gpu-profile", default="gpu", help="OpenFaaS Pro Profile the GPU variants opt into (default: gpu)")
    parser.add_argument("--ce", action="store_true",
                        help="for OpenFaaS CE: health that survives CE's liveness probe during long model loads, and "
                             "GPU variants that run on the CPU until a GPU is patched in (docs/platforms.md)")


def run(args) -> int:
    source = args.file or _default_input()
    if not NAME_PATTERN.match(args.gpu_profile):
        print(f"gaia stack: --gpu-profile must be a Profile name (lower-case, digits, '-'), got {args.gpu_profile!r}",
              file=sys.stderr)
        return 2
    if args.routes and not args.knative:
        print("gaia stack: --routes needs --knative (on OpenFaaS the plugin discovers variants by label)", file=sys.stderr)
        return 2
    try:
        expansion = expand_stack(load_stack(source), source.parent, gpu_profile=args.gpu_profile, ce=args.ce)
        text = knative_services(expansion, args.namespace) if args.knative else dump_stack(expansion.stack, source.name)
    except StackError as exc:
        print(f"gaia stack: {source}: {exc}", file=sys.stderr)
        return 2
    default_name = "gaia-knative.yaml" if args.knative else "gaia-stack.yml"
    output = args.output or str(source.parent / default_name)
    try:
        if output == "-":
            sys.stdout.write(text)
        else:
            Path(output).write_text(text, encoding="utf-8")
        if args.routes:
            args.routes.write_text(routes_file(expansion, args.namespace), encoding="utf-8")
            print(f"wrote {args.routes}", file=sys.stderr)
    except OSError as exc:
        print(f"gaia stack: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    for warning in expansion.warnings:
        print(f"gaia stack: warning: {warning}", file=sys.stderr)
    for function in expansion.functions:
        names = ", ".join(v.name for v in function.variants.values())
        print(f"{function.name}: {function.mode} ({function.mode_source}) -> {names}", file=sys.stderr)
    if output != "-":
        print(f"wrote {output}", file=sys.stderr)
    count = len(expansion.stack["functions"])
    if not args.knative and not args.ce:
        print("note: on OpenFaaS CE add --ce (its liveness probe and its lack of GPU scheduling: docs/platforms.md)",
              file=sys.stderr)
    if not args.knative and count > CE_FUNCTION_LIMIT:
        print(
            f"note: {count} functions; OpenFaaS CE deploys at most {CE_FUNCTION_LIMIT} (docs/platforms.md)",
            file=sys.stderr,
        )
    return 0
