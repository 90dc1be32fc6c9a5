"""Execution Mode Identifier: decides from source alone whether a handler needs cpu, cpu_preferred,
gpu_preferred or gpu. Standard library only, relative imports only: the template's build copies this
folder under another package name and runs it inside the function image."""

from .result import MODES, Classification, Evidence
from .scan import classify_path

__all__ = ["MODES", "Classification", "Evidence", "classify_path"]
