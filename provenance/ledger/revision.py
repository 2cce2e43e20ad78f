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
from pathlib import Path

from provenance.errors import LedgerError

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _versions_dir() -> Path:
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise LedgerError("the migrations package is not installed; cannot check the schema")
    return Path(next(iter(spec.submodule_search_locations))) / "versions"


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


@functools.cache
def head_revision() -> str:
    """The newest revision of the migrations shipped with this version (exactly one head)."""
    graph = _revisions(_versions_dir())
    referenced = {down for downs in graph.values() for down in downs}
    heads = sorted(set(graph) - referenced)
    if len(heads) != 1:
        raise LedgerError(f"migrations have {len(heads)} heads; expected one")
    return heads[0]


def schema_problem(current: str | None, display_url: str) -> str | None:
    """Why a ledger at revision `current` cannot be used (None when it is at the head)."""
    head = head_revision()
    if current == head:
        return None
    state = "not initialised" if current is None else f"at revision {current}"
    return (
        f"ledger database {display_url} is {state}, expected {head}; "
        "run `provenant db upgrade` (or `provenant init`)"
    )
