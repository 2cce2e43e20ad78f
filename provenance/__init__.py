"""Provenant: generated images that leave with signed C2PA credentials and a ledger record.

The public API is small and imported lazily, so that `provenant verify` and `--help` stay
fast (no torch, no diffusers at import time):

    >>> from provenance import Studio          # doctest: +SKIP
    >>> studio = Studio.from_config()           # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("provenant")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

SOFTWARE_AGENT = f"provenant/{__version__}"

_LAZY = {
    "Studio": "provenance.studio",
    "Settings": "provenance.config",
    "GenerationRequest": "provenance.types",
    "Verdict": "provenance.verdict",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'provenance' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["SOFTWARE_AGENT", "GenerationRequest", "Settings", "Studio", "Verdict", "__version__"]
