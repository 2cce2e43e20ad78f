"""The schema revision this version of Provenant expects, found without importing Alembic.

`provenant verify` checks the ledger's schema on every run; loading Alembic (and Mako, and
its script directory) for that cost more than verifying a file.  The revision graph is
read from the `revision = ...` / `down_revision = ...` lines of the migration files, which
is all Alembic itself reads to find the head; a test holds this to Alembic's own answer.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from importlib.metadata import entry_points
from pathlib import Path

from provenance.errors import LedgerError, PluginValidationError

#: Entry-point group: name -> a package (dotted path) whose directory holds Alembic revisions.
MIGRATIONS_GROUP = "provenant.migrations"

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _versions_dir() -> Path:
    spec = importlib.util.find_spec("provenance.migrations")
    if spec is None or not spec.submodule_search_locations:
        raise LedgerError("the migrations package is not installed; cannot check the schema")
    return Path(next(iter(spec.submodule_search_locations))) / "versions"


def _package_dir(name: str, dotted: str) -> Path:
    """The folder of package `dotted`, found without running the `__init__` of the packages
    above it (the known-works plugin's would load SQLAlchemy on `verify`'s path)."""
    head, _, rest = dotted.partition(".")
    second, _, tail = rest.partition(".")
    base = f"{head}.{second}" if second else head
    try:
        spec = importlib.util.find_spec(base)
    except (ImportError, ValueError) as exc:
        raise PluginValidationError(f"migrations plugin {name!r} ({dotted}): {exc}") from exc
    if spec is None or not spec.submodule_search_locations:
        raise PluginValidationError(
            f"migrations plugin {name!r} ({dotted}) is not a package with a directory"
        )
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(
        *tail.split(".") if tail else ()
    )
    if not (folder / "__init__.py").is_file():
        raise PluginValidationError(
            f"migrations plugin {name!r} ({dotted}) is not a package with a directory"
        )
    return folder


def version_locations() -> list[Path]:
    """The core's revisions first, then each plugin's, in entry-point name order."""
    found = [_versions_dir()]
    for ep in sorted(entry_points(group=MIGRATIONS_GROUP), key=lambda e: e.name):
        found.append(_package_dir(ep.name, ep.value))
    return found


@functools.cache
def _revisions(folder: Path) -> dict[str, tuple[str, ...]]:
    """{revision: its down revisions} of every migration file in `folder`."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.py")):
        values = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        if "revision" not in values:
            continue
        revision = _literal(values["revision"])
        down = _literal(values.get("down_revision", "None"))
        graph[str(revision)] = tuple(down) if isinstance(down, tuple) else (down,) if down else ()
    return graph


def _literal(text: str) -> str | tuple[str, ...] | None:
    """A revision id as written: a quoted string, None, or a tuple of quoted strings."""
    ids = re.findall(r'["\']([^"\']+)["\']', text)
    if text.strip().startswith(("(", "[")):
        return tuple(ids)
    return ids[0] if ids else None


def head_revisions() -> tuple[str, ...]:
    """The newest revision of every branch (core and plugins) this installation ships.

    The locations are found on every call (a plugin may be installed while a process runs);
    each folder's files are read once."""
    graph: dict[str, tuple[str, ...]] = {}
    for folder in version_locations():
        graph.update(_revisions(folder))
    referenced = {down for downs in graph.values() for down in downs}
    return tuple(sorted(set(graph) - referenced))


def head_revision() -> str:
    """The heads as one display string (`a, b`), comparable with `current_revision`."""
    return ", ".join(head_revisions())


def schema_problem(current: tuple[str, ...], display_url: str) -> str | None:
    """Why a ledger at revisions `current` cannot be used (None when it is at every head)."""
    if tuple(sorted(current)) == head_revisions():
        return None
    state = "not initialised" if not current else f"at revision {', '.join(sorted(current))}"
    return (
        f"ledger database {display_url} is {state}, expected {head_revision()}; "
        "run `provenant db upgrade` (or `provenant init`)"
    )
