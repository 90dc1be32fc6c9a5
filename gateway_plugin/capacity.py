"""How many GPU replicas the controller may hold at once (the GPU pool's capacity).

Two sources, the lower one wins when both are known:

* the setting: ``--gpu-capacity N`` / ``GAIA_GPU_CAPACITY`` or, in static mode, ``gpu_capacity: N`` at the
  top of the routes file (the command line wins over the file);
* in a Kubernetes cluster, when the plugin's service account may list nodes: the sum of the
  ``nvidia.com/gpu`` (``--gpu-resource``) allocatable of the nodes that are Ready and schedulable, read from
  the API server every ``refresh_s``. The RBAC it needs is a ClusterRole with ``get``/``list`` on ``nodes``
  (deploy/gateway.yaml). Without that access, or outside a cluster, the setting alone counts.

Neither known: the pool is unlimited (every function decided alone, as before).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from gaia_faas.gateway_plugin.registry import file_stamp, parse_yaml

log = logging.getLogger("gaia.controller")

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
ROUTES_FILE_KEY = "gpu_capacity"


class CapacityError(ValueError):
    """A capacity setting or the cluster's answer cannot be used; the message says why."""


def parse_capacity(raw, where: str) -> int:
    """A GPU count: a whole number, 0 or more."""
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit():
        raise CapacityError(f"{where}: the GPU capacity must be a whole number of GPUs (0 or more), got {raw!r}")
    return int(text)


def routes_file_capacity(path: str | Path) -> int | None:
    """The ``gpu_capacity`` of a static routes file (None when absent)."""
    try:
        document = parse_yaml(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CapacityError(f"cannot read {ROUTES_FILE_KEY} from routes file {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get(ROUTES_FILE_KEY) is None:
        return None
    return parse_capacity(document[ROUTES_FILE_KEY], f"routes file {path}: {ROUTES_FILE_KEY}")


def allocatable_gpus(nodes: dict, resource: str = DEFAULT_GPU_RESOURCE) -> int:
    """Sum of ``resource`` allocatable over the Ready, schedulable nodes of a NodeList (pure).

    A cordoned or NotReady node takes no new GPU pod, so its GPUs are not the controller's to hand out.
    """
    items = nodes.get("items") if isinstance(nodes, dict) else None
    if not isinstance(items, list):
        raise CapacityError("the API server's node list has no 'items' list")
    total = 0
    for node in items:
        spec, status = node.get("spec") or {}, node.get("status") or {}
        if spec.get("unschedulable"):
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        value = str((status.get("allocatable") or {}).get(resource, "0"))
        if ready and value.isdigit():
            total += int(value)
    return total


@dataclass(frozen=True)
class ClusterAPI:
    """Where and how to reach the Kubernetes API server."""

    base_url: str
    token: str | None = None
    ca_file: str | None = None

    @classmethod
    def in_cluster(cls, environ=os.environ, account_dir: Path = SERVICE_ACCOUNT_DIR) -> "ClusterAPI | None":
        """The pod's own API server and service account token; None outside a cluster."""
        host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = account_dir / "token"
        if not host or not token_file.exists():
            return None
        host = f"[{host}]" if ":" in host else host
        ca = account_dir / "ca.crt"
        return cls(f"https://{host}:{port}", token_file.read_text().strip(), str(ca) if ca.exists() else None)

    async def gpus(self, session: aiohttp.ClientSession, resource: str = DEFAULT_GPU_RESOURCE,
                   timeout_s: float = 5.0) -> int:
        """The allocatable GPUs of all nodes, page by page (raises CapacityError with the reason)."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        ssl_context = ssl.create_default_context(cafile=self.ca_file) if self.base_url.startswith("https") else None
        total, token = 0, ""
        while True:
            params = {"limit": "500", **({"continue": token} if token else {})}
            url = f"{self.base_url}/api/v1/nodes"
            try:
                async with session.get(url, params=params, headers=headers, ssl=ssl_context,
                                       timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                    if response.status in (401, 403):
                        raise CapacityError(f"{url} answered {response.status}: the service account may not list "
                                            "nodes (needs a ClusterRole with get/list on nodes, see docs/controller.md)")
                    if response.status != 200:
                        raise CapacityError(f"{url} answered {response.status}")
                    page = await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                if isinstance(exc, CapacityError):
                    raise
                raise CapacityError(f"cannot read {url}: {type(exc).__name__}: {exc}") from None
            total += allocatable_gpus(page, resource)
            token = ((page.get("metadata") or {}).get("continue") or "") if isinstance(page, dict) else ""
            if not token:
                return total


class Capacity:
    """The pool's capacity as the controller sees it now, with where it comes from (for the API)."""

    def __init__(self, setting: int | None = None, routes_file: str | None = None, cluster: ClusterAPI | None = None,
                 resource: str = DEFAULT_GPU_RESOURCE, refresh_s: float = 30.0):
        self.setting, self.routes_file, self.cluster = setting, routes_file, cluster
        self.resource, self.refresh_s = resource, refresh_s
        self.file_setting: int | None = None
        self._file_stamp: tuple[int, int, int] | None = None  # the routes file as file_setting was read from it
        self.cluster_gpus: int | None = None
        self.error: str | None = None  # the last cluster or file read failure
        self._next_refresh = 0.0

    @property
    def value(self) -> int | None:
        setting = self.setting if self.setting is not None else self.file_setting
        known = [v for v in (setting, self.cluster_gpus) if v is not None]
        return min(known) if known else None

    def describe(self) -> dict:
        return {"capacity": self.value, "setting": self.setting, "routes_file_setting": self.file_setting,
                "cluster_gpus": self.cluster_gpus, "resource": self.resource, "error": self.error}

    async def refresh(self, session: aiohttp.ClientSession | None, now: float) -> int | None:
        """Re-read the routes file and the cluster at most every ``refresh_s``; keep the last known
        values when a read fails (and say why in ``error``)."""
        if now < self._next_refresh:
            return self.value
        self._next_refresh = now + self.refresh_s
        errors = []
        if self.routes_file and self.setting is None:
            stamp = file_stamp(self.routes_file)
            try:
                if stamp is None or stamp != self._file_stamp:  # parse a thousand functions only when it changed
                    # In a thread, as the registry reads it (app.refresh_registry): the loop proxies meanwhile,
                    # but for the stretches libyaml's C parser holds the GIL.
                    self.file_setting = await asyncio.to_thread(routes_file_capacity, self.routes_file)
                    self._file_stamp = stamp
            except CapacityError as exc:
                self._file_stamp = None
                errors.append(str(exc))
        if self.cluster is not None and session is not None:
            try:
                self.cluster_gpus = await self.cluster.gpus(session, self.resource)
            except CapacityError as exc:
                errors.append(str(exc))
        error = "; ".join(errors) or None
        if error and error != self.error:
            log.warning("GPU capacity: %s (using %s)", error, self.value)
        self.error = error
        return self.value
