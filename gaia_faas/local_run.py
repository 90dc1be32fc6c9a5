"""`gaia local-run`: the whole system on one machine, with no Docker and no Kubernetes.

Reads a stack.yml, starts Redis (REDIS_URL, or an embedded redis-server), every function variant as a real
gaia-python runtime on its own loopback port, and the gateway plugin with the controller in static mode
in front of them; prints the URLs; on Ctrl-C, SIGTERM or any child dying, stops everything it started.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FUNCTION_LABEL = "com.gaia.function"
VARIANT_LABEL = "com.gaia.variant"
VARIANTS = ("cpu", "gpu")


class LocalRunError(RuntimeError):
    """Something the user can fix (a port in use, a missing folder, a broken handler); the message says what."""


@dataclass(frozen=True)
class VariantPlan:
    entry: str  # the stack entry, e.g. matmul-gpu
    function: str  # the logical name clients call
    variant: str  # cpu or gpu
    handler_dir: Path
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionPlan:
    name: str
    variants: dict[str, VariantPlan]
    annotations: dict[str, str] = field(default_factory=dict)


# -- reading the stack (pure apart from load_stack and the folder checks) --------------------------------------
def load_stack(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LocalRunError(f"cannot read stack file {path}: {exc.strerror or exc}") from None
    try:
        stack = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LocalRunError(f"stack file {path} is not valid YAML: {exc}") from None
    if not isinstance(stack, dict) or not isinstance(stack.get("functions"), dict):
        raise LocalRunError(f"stack file {path} has no `functions:` mapping")
    return stack


def _text_map(value, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LocalRunError(f"{where} must be a mapping")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def plan_functions(stack: dict, stack_dir: Path, only: list[str] | None = None) -> list[FunctionPlan]:
    """The Gaia functions of an expanded stack: entries labelled com.gaia.function / com.gaia.variant.

    ``only`` keeps a subset (logical names); unknown names are an error that lists the known ones.
    """
    grouped: dict[str, dict[str, VariantPlan]] = {}
    annotations: dict[str, dict[str, str]] = {}
    for entry, spec in stack["functions"].items():
        if not isinstance(spec, dict):
            raise LocalRunError(f"functions.{entry} must be a mapping")
        labels = _text_map(spec.get("labels"), f"functions.{entry}.labels")
        if FUNCTION_LABEL not in labels:
            if spec.get("lang") == "gaia-python":
                raise LocalRunError(
                    f"functions.{entry} uses lang gaia-python but has no {FUNCTION_LABEL} label: "
                    "expand the stack into its variants first (`gaia stack`)"
                )
            continue  # not a Gaia function: nothing to run locally
        function, variant = labels[FUNCTION_LABEL], labels.get(VARIANT_LABEL, "")
        if variant not in VARIANTS:
            raise LocalRunError(f"functions.{entry}.labels.{VARIANT_LABEL} must be cpu or gpu, got {variant!r}")
        if variant in grouped.get(function, {}):
            raise LocalRunError(f"functions.{entry}: {function} has two {variant} variants")
        handler = spec.get("handler")
        if not isinstance(handler, str) or not handler:
            raise LocalRunError(f"functions.{entry}.handler must name the function's folder")
        grouped.setdefault(function, {})[variant] = VariantPlan(
            entry=entry,
            function=function,
            variant=variant,
            handler_dir=(Path(stack_dir) / handler).resolve(),
            environment=_text_map(spec.get("environment"), f"functions.{entry}.environment"),
        )
        own = {k: v for k, v in _text_map(spec.get("annotations"), f"functions.{entry}.annotations").items() if k.startswith("com.gaia.")}
        annotations.setdefault(function, {}).update(own)
    if only:
        unknown = [name for name in only if name not in grouped]
        if unknown:
            known = ", ".join(sorted(grouped)) or "none"
            raise LocalRunError(f"no function {', '.join(unknown)} in the stack (functions: {known})")
        grouped = {name: grouped[name] for name in only}
    if not grouped:
        raise LocalRunError("the stack has no Gaia functions (entries labelled com.gaia.function)")
    return [FunctionPlan(name, dict(sorted(variants.items())), annotations.get(name, {})) for name, variants in grouped.items()]


def check_handler_folders(functions: list[FunctionPlan]) -> None:
    for function in functions:
        for plan in function.variants.values():
            if not plan.handler_dir.is_dir():
                raise LocalRunError(f"{plan.entry}: function folder {plan.handler_dir} does not exist")
            if not (plan.handler_dir / "handler.py").is_file():
                raise LocalRunError(f"{plan.entry}: function folder {plan.handler_dir} has no handler.py")


def routes_document(functions: list[FunctionPlan], urls: dict[tuple[str, str], str]) -> dict:
    """The static routes file (docs/design.md) for variants answering at ``urls[(function, variant)]``."""
    return {
        "functions": {
            f.name: {"variants": {v: urls[(f.name, v)] for v in f.variants}, "annotations": dict(f.annotations)}
            for f in functions
        }
    }


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port with connections in TIME_WAIT is free for them too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LocalRunError(
                    f"port {port} on {host} is already in use (another gateway or local run?): "
                    "stop it or choose another port with --port"
                ) from None
            raise LocalRunError(f"cannot bind {host}:{port}: {exc.strerror}") from None
