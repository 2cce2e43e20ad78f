"""Provenant: generated images that leave with signed C2PA credentials and a ledger record.

The public API is small and imported lazily, so that `provenant verify` and `--help` stay
fast (no torch, no diffusers at import time):

    >>> from provenance import Studio          # doctest: +SKIP
    >>> studio = Studio.from_config()           # doctest: +SKIP

The kernel is this package's top-level modules (`errors`, `types`, `config`, `plugins`,
`protocols`, `verdict`, `ids`, `imageio`); every room below may use it.

May import: kernel.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Studio": "provenance.pipeline.studio",
    "Settings": "provenance.config",
    "GenerationRequest": "provenance.types",
    "Verdict": "provenance.verdict",
}


def _installed_version() -> str:
    """The installed distribution's version, read on first use: importing
    `importlib.metadata` and scanning the installed packages costs a fast command's
    start-up time, and `verify` never needs it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("provenant")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name in ("__version__", "SOFTWARE_AGENT"):
        found = _installed_version()
        globals().update(__version__=found, SOFTWARE_AGENT=f"provenant/{found}")
        return globals()[name]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'provenance' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["SOFTWARE_AGENT", "GenerationRequest", "Settings", "Studio", "Verdict", "__version__"]
