"""Plugin discovery through entry points; built-ins register exactly like third parties.

`get_generator("gan")` returns the class registered under `provenant.generators`, checked
for the protocol's members when it loads (pluggy's habit: fail at registration, not at
first use).  Unknown names raise an error listing what is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from provenance.errors import (
    PluginValidationError,
    UnknownGeneratorError,
    UnknownPluginError,
    UnknownPolicyError,
    UnknownSignerError,
)
from provenance.protocols import OPTIONAL_MEMBERS, REQUIRED_MEMBERS

GROUPS: dict[str, str] = {
    "generator": "provenant.generators",
    "policy": "provenant.policies",
    "signer": "provenant.signers",
}
_UNKNOWN_ERRORS: dict[str, Callable[[str, list[str]], UnknownPluginError]] = {
    "generator": UnknownGeneratorError,
    "policy": UnknownPolicyError,
    "signer": UnknownSignerError,
}


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin: its name, the distribution that ships it and its version."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str


def _entry_points(kind: str) -> dict[str, EntryPoint]:
    eps = entry_points(group=GROUPS[kind])
    return {ep.name: ep for ep in eps}


def installed(kind: str) -> list[PluginInfo]:
    """Every plugin of `kind` that an installed distribution registers, sorted by name."""
    out = []
    for name, ep in sorted(_entry_points(kind).items()):
        dist = ep.dist
        out.append(
            PluginInfo(
                kind=kind,
                name=name,
                value=ep.value,
                distribution=dist.metadata["Name"] if dist else "?",
                version=dist.version if dist else "?",
            )
        )
    return out


def load_plugin(kind: str, name: str) -> Any:
    """Import and validate the class registered as `name`; raise a typed error otherwise."""
    return _load(kind, name)


@cache
def _load(kind: str, name: str) -> Any:
    eps = _entry_points(kind)
    if name not in eps:
        raise _UNKNOWN_ERRORS[kind](name, list(eps))
    ep = eps[name]
    try:
        obj = ep.load()
    except (ImportError, AttributeError) as exc:
        raise PluginValidationError(
            f"{kind} plugin {name!r} ({ep.value}) failed to import: {exc}"
        ) from exc
    validate_plugin(kind, name, obj)
    return obj


def validate_plugin(kind: str, name: str, obj: Any) -> None:
    """Check that `obj` provides the members its protocol requires and names itself `name`."""
    missing = [m for m in REQUIRED_MEMBERS[kind] if not hasattr(obj, m)]
    if missing:
        raise PluginValidationError(
            f"{kind} plugin {name!r} is missing required members: {', '.join(missing)}"
        )
    declared = getattr(obj, "name", None)
    if declared != name:
        raise PluginValidationError(
            f"{kind} plugin registered as {name!r} calls itself {declared!r}"
        )
    for member in REQUIRED_MEMBERS[kind]:
        if member not in ("name", "version") and not callable(getattr(obj, member)):
            raise PluginValidationError(f"{kind} plugin {name!r}: {member} is not callable")
    for member in OPTIONAL_MEMBERS[kind]:
        if hasattr(obj, member) and not callable(getattr(obj, member)):
            raise PluginValidationError(f"{kind} plugin {name!r}: {member} is not callable")


def get_generator(name: str) -> Any:
    """The generator class registered as `name` (raises `UnknownGeneratorError`)."""
    return load_plugin("generator", name)


def get_policy(name: str) -> Any:
    """The policy class registered as `name` (raises `UnknownPolicyError`)."""
    return load_plugin("policy", name)


def get_signer(name: str) -> Any:
    """The signer class registered as `name` (raises `UnknownSignerError`)."""
    return load_plugin("signer", name)


def clear_cache() -> None:
    """Forget loaded plugins (tests install plugin packages mid-session)."""
    _load.cache_clear()
