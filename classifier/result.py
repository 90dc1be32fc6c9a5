"""The classifier's vocabulary: the four execution modes and the typed result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Weakest to strongest; across files and signals the strongest wins.
MODES = ("cpu", "cpu_preferred", "gpu_preferred", "gpu")
MODE_RANK = {mode: rank for rank, mode in enumerate(MODES)}


def strongest(modes) -> str:
    """The strongest of `modes` (``cpu`` for none)."""
    return max(modes, key=MODE_RANK.__getitem__, default="cpu")


@dataclass(frozen=True)
class Evidence:
    """One observation that supports a mode: where it is, what kind it is, and which mode it points to."""

    file: str
    line: int
    kind: str
    detail: str
    mode: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Classification:
    """What a handler needs per request, why, and what the classifier could not read."""

    mode: str
    rationale: str
    evidence: list[Evidence] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    declared: bool = False

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "rationale": self.rationale,
            "declared": self.declared,
            "evidence": [item.to_dict() for item in self.evidence],
            "frameworks": list(self.frameworks),
            "errors": list(self.errors),
        }
