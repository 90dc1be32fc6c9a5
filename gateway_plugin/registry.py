"""The function registry: per managed function, its variants' upstream targets and its `com.gaia.*` annotations.

Two sources fill it: the static routes file (docs/design.md, for Knative and local runs) and the OpenFaaS API
(`GET /system/functions`, selecting on the `com.gaia.function` / `com.gaia.variant` labels). Parsing is pure;
`discover_openfaas` is the only I/O here.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from gaia_faas.gateway_plugin.routes import VARIANTS, default_variant

FUNCTION_LABEL = "com.gaia.function"
VARIANT_LABEL = "com.gaia.variant"
ANNOTATION_PREFIX = "com.gaia."
# A logical function name as clients call it: a DNS label, like the faas-cli rule for function names.
FUNCTION_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_FUNCTION_NAME = 63


class RegistryError(ValueError):
    """The routes file or the OpenFaaS answer cannot be turned into a registry; the message says why."""


@dataclass(frozen=True)
class VariantTarget:
    """Where one variant answers. A call to `/function/NAME/rest?q` goes to ``sync_url + "/rest?q"``."""

    variant: str
    sync_url: str
    async_url: str | None = None  # None: the platform has no asynchronous invocations (static mode)
    service: str = ""  # the provider's name for it (NAME-gpu) when known


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    variants: dict[str, VariantTarget]
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str | None:
        return self.annotations.get("com.gaia.mode")

    @cached_property
    def start_variant(self) -> str:
        return default_variant(tuple(self.variants), self.mode)

    @cached_property
    def _other(self) -> dict[str, str]:
        names = sorted(self.variants)
        return {a: b for a in names for b in names if a != b}

    def other_variant(self, variant: str) -> str | None:
        return self._other.get(variant)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "mode": self.mode,
            "variants": {v: {"url": t.sync_url, "service": t.service} for v, t in sorted(self.variants.items())},
            "annotations": dict(sorted(self.annotations.items())),
        }


class Registry:
    """The current set of managed functions; replaced as a whole on refresh (readers see old or new)."""

    def __init__(self, functions: dict[str, FunctionSpec] | None = None):
        self._functions = dict(functions or {})

    def get(self, name: str) -> FunctionSpec | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def replace(self, functions: dict[str, FunctionSpec]) -> None:
        self._functions = dict(functions)

    def __len__(self) -> int:
        return len(self._functions)

    def start_variant(self, name: str) -> str:
        spec = self._functions.get(name)
        return spec.start_variant if spec is not None else "cpu"


def _check_name(name, where: str) -> str:
    if not isinstance(name, str) or len(name) > MAX_FUNCTION_NAME or not FUNCTION_NAME_RE.match(name):
        raise RegistryError(f"{where}: function name {name!r} is not a DNS label (a-z, 0-9, '-', at most 63 characters)")
    return name


def _check_annotations(annotations, where: str) -> dict[str, str]:
    if annotations is None:
        return {}
    if not isinstance(annotations, dict):
        raise RegistryError(f"{where}: 'annotations' must be a mapping of com.gaia.* keys to strings")
    return {str(k): str(v) for k, v in annotations.items() if str(k).startswith(ANNOTATION_PREFIX)}


def parse_static_routes(document, source: str = "routes file") -> dict[str, FunctionSpec]:
    """Validate the static routes file (already YAML-parsed) and build the registry's functions (pure)."""
    if not isinstance(document, dict) or not isinstance(document.get("functions"), dict):
        raise RegistryError(f"{source}: expected a top-level 'functions:' mapping")
    functions: dict[str, FunctionSpec] = {}
    for name, entry in document["functions"].items():
        where = f"{source}: function {name!r}"
        _check_name(name, source)
        if not isinstance(entry, dict) or not isinstance(entry.get("variants"), dict) or not entry["variants"]:
            raise RegistryError(f"{where}: needs 'variants:' with a cpu and/or gpu URL")
        variants = {}
        for variant, url in entry["variants"].items():
            if variant not in VARIANTS:
                raise RegistryError(f"{where}: unknown variant {variant!r} (expected cpu or gpu)")
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
                raise RegistryError(f"{where}: variant {variant} needs an http(s) URL, got {url!r}")
            variants[variant] = VariantTarget(variant=variant, sync_url=url.rstrip("/"), service=f"{name}-{variant}")
        functions[name] = FunctionSpec(name, variants, _check_annotations(entry.get("annotations"), where))
    return functions


def load_static_routes(path: str | Path) -> dict[str, FunctionSpec]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RegistryError(f"cannot read routes file {path}: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"routes file {path} is not valid YAML: {exc}") from exc
    return parse_static_routes(document, str(path))


def parse_openfaas_functions(functions_json, gateway_url: str) -> dict[str, FunctionSpec]:
    """Build the registry from the JSON list `GET /system/functions` returns (pure).

    A function is managed when it carries both labels. Variant services that do not fit (bad names,
    unknown variants, duplicates) are skipped, never guessed at.
    """
    if not isinstance(functions_json, list):
        raise RegistryError("GET /system/functions did not return a JSON list")
    gateway_url = gateway_url.rstrip("/")
    grouped: dict[str, dict[str, VariantTarget]] = {}
    annotations: dict[str, dict[str, str]] = {}
    for item in functions_json:
        if not isinstance(item, dict):
            continue
        labels = item.get("labels") or {}
        service = item.get("name")
        name, variant = labels.get(FUNCTION_LABEL), labels.get(VARIANT_LABEL)
        if not name or not isinstance(service, str) or variant not in VARIANTS:
            continue
        if not FUNCTION_NAME_RE.match(str(name)) or not FUNCTION_NAME_RE.match(service) or len(str(name)) > MAX_FUNCTION_NAME:
            continue
        grouped.setdefault(name, {})[variant] = VariantTarget(
            variant=variant, sync_url=f"{gateway_url}/function/{service}",
            async_url=f"{gateway_url}/async-function/{service}", service=service)
        annotations.setdefault(name, {}).update(
            {k: str(v) for k, v in (item.get("annotations") or {}).items() if k.startswith(ANNOTATION_PREFIX)})
    return {name: FunctionSpec(name, variants, annotations.get(name, {})) for name, variants in grouped.items()}


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


async def discover_openfaas(session, gateway_url: str, auth: BasicAuth | None, timeout_s: float = 10.0) -> dict[str, FunctionSpec]:
    """Ask the OpenFaaS gateway for its functions and keep the managed ones."""
    import aiohttp

    headers = {"Authorization": auth.header()} if auth else {}
    url = gateway_url.rstrip("/") + "/system/functions"
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status == 401:
                raise RegistryError(f"{url} answered 401: check the gateway credentials (OPENFAAS_USER/OPENFAAS_PASSWORD)")
            if response.status != 200:
                raise RegistryError(f"{url} answered {response.status}")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RegistryError(f"cannot list functions at {url}: {exc!r}") from exc
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{url} did not return JSON: {exc}") from exc
    return parse_openfaas_functions(body, gateway_url)
