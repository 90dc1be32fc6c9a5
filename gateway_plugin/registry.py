"""The function registry: per managed function, its variants' upstream targets and its `com.gaia.*` annotations.

Two sources fill it: the static routes file (docs/design.md, for Knative and local runs) and the OpenFaaS API
(`GET /system/functions`, selecting on the `com.gaia.function` / `com.gaia.variant` labels). Parsing is pure;
`discover_openfaas` is the only I/O here.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import yaml

from gaia_faas.gateway_plugin.routes import VARIANTS, default_variant

FUNCTION_LABEL = "com.gaia.function"
VARIANT_LABEL = "com.gaia.variant"
ANNOTATION_PREFIX = "com.gaia."
# A logical function name as clients call it: a DNS label, like the faas-cli rule for function names.
FUNCTION_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_FUNCTION_NAME = 63


# libyaml's parser when PyYAML has it (its wheels do): the same safe YAML, about 7x faster. A routes file of
# 1,000 functions took 511 ms to parse in pure Python, on the event loop of every worker at every refresh.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str):
    """``yaml.safe_load`` of ``text``, by libyaml when it is there."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def file_stamp(path: str | Path) -> tuple[int, int, int] | None:
    """What changes when a file is written or replaced (a ConfigMap's symlink swap too): its modification
    time, size and inode; None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


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
    namespace: str | None = None  # OpenFaaS namespace of the variants: `/function/NAME.NAMESPACE` routes too

    @property
    def mode(self) -> str | None:
        return self.annotations.get("com.gaia.mode")

    @cached_property
    def variant_names(self) -> frozenset[str]:
        """The names of its variants (the leader asks a few times per function per evaluation)."""
        return frozenset(self.variants)

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
            "namespace": self.namespace,
        }


class Registry:
    """The current set of managed functions; replaced as a whole on refresh (readers see old or new)."""

    def __init__(self, functions: dict[str, FunctionSpec] | None = None):
        self._functions = dict(functions or {})
        self.conflicts: list[str] = []  # claims left out at the last refresh (see parse_openfaas_functions)
        # The replicas the provider reported at the last discovery (OpenFaaS mode), and when that discovery
        # was asked for (wall clock): the GPU pool counts a GPU variant with replicas as held.
        self.replicas: dict[str, dict[str, Replicas]] = {}
        self.replicas_asked_at: float | None = None

    def get(self, name: str) -> FunctionSpec | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def replace(self, functions: dict[str, FunctionSpec], conflicts: list[str] | tuple = (),
                replicas: dict[str, dict[str, Replicas]] | None = None, asked_at: float | None = None) -> None:
        """The new set of functions; one whose spec did not change keeps its object, and with it what is
        cached per spec (the controller's parsed annotations: a thousand functions rediscovered every 10 s).
        ``replicas``: what the provider reported, asked for at ``asked_at`` (None: a routes file, no provider)."""
        old = self._functions
        self._functions = {name: old[name] if old.get(name) == spec else spec for name, spec in functions.items()}
        self.conflicts = list(conflicts)
        self.replicas = dict(replicas or {})
        self.replicas_asked_at = asked_at if replicas is not None else None

    def replicas_of(self, name: str, variant: str) -> Replicas | None:
        """The variant's replicas at the last discovery, None where no provider reported them."""
        return self.replicas.get(name, {}).get(variant)

    def get_namespaced(self, name: str) -> FunctionSpec | None:
        """The function a `NAME.NAMESPACE` segment names, when NAME is managed in that namespace (the last
        dot splits off the namespace, as the OpenFaaS gateway does)."""
        function, dot, namespace = name.rpartition(".")
        if not dot:
            return None
        spec = self._functions.get(function)
        return spec if spec is not None and spec.namespace is not None and spec.namespace == namespace else None

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
            if "@" in url.split("/")[2]:  # they would show in the API and 502 bodies; the proxy sends no URL credentials
                raise RegistryError(f"{where}: variant {variant}'s URL must not carry credentials")
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
        document = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"routes file {path} is not valid YAML: {exc}") from exc
    return parse_static_routes(document, str(path))


class Replicas(NamedTuple):
    """What the provider reports of one variant service: the replicas it is asked for, and those available.
    faas-netes reports a Deployment's counts: a pod being deleted is in neither, though it holds its GPU
    until it has stopped."""

    desired: int
    available: int

    @property
    def up(self) -> bool:
        return self.desired > 0 or self.available > 0


class Discovery(NamedTuple):
    functions: dict[str, FunctionSpec]
    conflicts: list[str]  # one line per (function, variant) that two or more services claim
    replicas: dict[str, dict[str, Replicas]] | None  # function -> variant -> replicas (None: a routes file)


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _mapping(item: dict, key: str, where: str) -> dict:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RegistryError(f"{where}: '{key}' is a {type(value).__name__}, expected a mapping")
    return value


def parse_openfaas_functions(functions_json, gateway_url: str) -> Discovery:
    """Build the registry from the JSON list `GET /system/functions` returns (pure).

    A function is managed when it carries both labels. Variant services that do not fit (bad names, unknown
    variants) are skipped, never guessed at. Two services claiming the same function and variant are both
    left out (either could be an impostor taking over another team's routing and SLO) and reported. An
    answer that is not the documented shape (an entry that is not an object, labels that are not a mapping)
    raises RegistryError: the caller keeps its previous registry.
    """
    if not isinstance(functions_json, list):
        raise RegistryError(f"GET /system/functions did not return a JSON list (got {type(functions_json).__name__})")
    gateway_url = gateway_url.rstrip("/")
    claims: dict[tuple[str, str], list[dict]] = {}
    for index, item in enumerate(functions_json):
        where = f"GET /system/functions entry {index}"
        if not isinstance(item, dict):
            raise RegistryError(f"{where} is a {type(item).__name__}, expected an object")
        labels = _mapping(item, "labels", where)
        _mapping(item, "annotations", where)
        service, namespace = item.get("name"), item.get("namespace")
        if not isinstance(service, str) or not (namespace is None or isinstance(namespace, str)):
            raise RegistryError(f"{where}: 'name' and 'namespace' must be strings")
        name, variant = labels.get(FUNCTION_LABEL), labels.get(VARIANT_LABEL)
        if not isinstance(name, str) or not name or variant not in VARIANTS:
            continue
        if not FUNCTION_NAME_RE.match(name) or not FUNCTION_NAME_RE.match(service) or len(name) > MAX_FUNCTION_NAME:
            continue
        claims.setdefault((name, variant), []).append(item)
    variants: dict[str, dict[str, VariantTarget]] = {}
    annotations: dict[str, dict[str, str]] = {}
    namespaces: dict[str, set] = {}
    conflicts = []
    for (name, variant), items in sorted(claims.items()):
        if len(items) > 1:
            services = ", ".join(sorted(str(item["name"]) for item in items))
            conflicts.append(f"{name}/{variant} is claimed by {len(items)} services ({services}): none of them is routed")
            continue
        item = items[0]
        service = item["name"]
        variants.setdefault(name, {})[variant] = VariantTarget(
            variant=variant, sync_url=f"{gateway_url}/function/{service}",
            async_url=f"{gateway_url}/async-function/{service}", service=service)
        annotations.setdefault(name, {}).update(
            {k: str(v) for k, v in _mapping(item, "annotations", "").items() if str(k).startswith(ANNOTATION_PREFIX)})
        namespaces.setdefault(name, set()).add(item.get("namespace"))
    functions = {}
    replicas: dict[str, dict[str, Replicas]] = {}
    for name, targets in variants.items():
        found = namespaces[name]
        namespace = next(iter(found)) if len(found) == 1 else None
        functions[name] = FunctionSpec(name, targets, annotations[name], namespace=namespace or None)
        for variant in targets:
            item = claims[(name, variant)][0]
            desired, available = _count(item.get("replicas")), _count(item.get("availableReplicas"))
            if desired is not None or available is not None:  # a provider that says neither says nothing
                replicas.setdefault(name, {})[variant] = Replicas(desired or 0, available or 0)
    return Discovery(functions, conflicts, replicas)


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


MAX_DISCOVERY_BYTES = 32 * 1024 * 1024  # 15 functions (CE) take a few KB; a provider with thousands, a few MB


async def discover_openfaas(session, gateway_url: str, auth: BasicAuth | None, timeout_s: float = 10.0) -> Discovery:
    """Ask the OpenFaaS gateway for its functions and keep the managed ones. Any answer that cannot be used
    raises RegistryError, with the reason."""
    import aiohttp

    headers = {"Authorization": auth.header()} if auth else {}
    url = gateway_url.rstrip("/") + "/system/functions"
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status == 401:
                raise RegistryError(f"{url} answered 401: check the gateway credentials "
                                    "(--openfaas-user, --openfaas-password-file)")
            if response.status != 200:
                raise RegistryError(f"{url} answered {response.status}")
            raw = await response.content.read(MAX_DISCOVERY_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RegistryError(f"cannot list functions at {url}: {exc!r}") from exc
    if len(raw) > MAX_DISCOVERY_BYTES:
        raise RegistryError(f"{url} answered more than {MAX_DISCOVERY_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{url} did not answer UTF-8 text: {exc}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RegistryError(f"{url} did not return JSON: {exc}") from exc
    return parse_openfaas_functions(body, gateway_url)
