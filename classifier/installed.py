"""What the installed distributions say about an import the knowledge tables do not know.

At build time the template installs the function's requirements before it classifies the handler, so an
unknown `import fancy_upscaler` can be resolved to its distribution and that distribution's declared
requirements walked (`importlib.metadata`, which reads `*.dist-info` metadata and never imports or runs the
package). A library that depends, directly or through other installed distributions, on torch / tensorflow /
jax / onnxruntime / cupy (`knowledge.DL_DISTRIBUTIONS`) is a deep-learning library.

Reading every distribution's metadata costs tens of milliseconds, so one index per search path is built on
first need and kept for the life of the process.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from . import knowledge

MAX_DEPTH = 4  # requirement hops from the imported distribution to a framework
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_INDEXES: dict[tuple, "Installed"] = {}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Installed:
    """Distributions found on one search path: import name -> distribution, and each one's requirements."""

    def __init__(self, paths: list[str]):
        self.paths = list(paths)
        self._by_module: dict[str, str] | None = None
        self._requires: dict[str, list[str]] = {}
        self._verdicts: dict[str, tuple[str, str] | None] = {}

    @classmethod
    def for_paths(cls, paths: list[str] | None) -> "Installed":
        """The shared index for `paths` (None: the running interpreter's `sys.path`)."""
        key = tuple(sys.path if paths is None else paths)
        if key not in _INDEXES:
            _INDEXES[key] = cls(list(key))
        return _INDEXES[key]

    def _index(self) -> dict[str, str]:
        if self._by_module is None:
            by_module: dict[str, str] = {}
            try:
                distributions = list(metadata.distributions(path=self.paths))
            except (OSError, ValueError):
                distributions = []
            for dist in distributions:
                try:
                    name = _normalise(dist.metadata["Name"] or "")
                    if not name or name in self._requires:
                        continue
                    self._requires[name] = [r for r in (dist.requires or []) if "extra" not in r.partition(";")[2]]
                    top_level = (dist.read_text("top_level.txt") or "").split()
                    if not top_level:
                        top_level = sorted({f.parts[0].removesuffix(".py") for f in (dist.files or [])[:200]
                                            if f.parts and not f.parts[0].endswith((".dist-info", ".data")) and not f.parts[0].startswith(".")
                                            and (f.suffix == ".py" or len(f.parts) > 1)})
                except (OSError, ValueError, KeyError, AttributeError):
                    continue
                for module in top_level:
                    by_module.setdefault(module, name)
                by_module.setdefault(name.replace("-", "_"), name)
            self._by_module = by_module
        return self._by_module

    def classify(self, module: str) -> tuple[str, str] | None:
        """(distribution name, 'dl' | 'cpu') for an installed top-level module, None when it is not installed."""
        if module in self._verdicts:
            return self._verdicts[module]
        distribution = self._index().get(module)
        verdict = None
        if distribution is not None:
            verdict = (distribution, "dl" if self._reaches_framework(distribution) else "cpu")
        self._verdicts[module] = verdict
        return verdict

    def _reaches_framework(self, distribution: str) -> bool:
        seen = {distribution}
        frontier = [distribution]
        for _ in range(MAX_DEPTH):
            following = []
            for name in frontier:
                for requirement in self._requires.get(name, []):
                    match = _NAME.match(requirement)
                    if not match:
                        continue
                    required = _normalise(match.group(1))
                    if knowledge.DL_DISTRIBUTIONS.match(required):
                        return True
                    if required not in seen:
                        seen.add(required)
                        following.append(required)
            frontier = following
        return False
