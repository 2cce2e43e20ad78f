"""Known works: the studio's registry of protected works and the policy that screens for them.

Modules: `specs` (what a work is), `prepare` (reading, hashing, embedding), `models` and
`registry` (database), `importer` (JSONL/CSV), `hashing`, `hashindex`, `vectors` and `index`
(the search structures), `reindex` (recomputing derived data), `names` (prompt name
matching), `policy` (`KnownWorksPolicy`, registered as the `known_works` entry point in
`provenant.policies`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.policies.known_works.policy import KnownWorksOptions, KnownWorksPolicy


def __getattr__(name: str) -> Any:
    """The policy classes on first use: the CLI loads this plugin's `works` command on every
    run, and `verify` must not pay for the registry's SQLAlchemy models."""
    if name in ("KnownWorksOptions", "KnownWorksPolicy"):
        from provenance.policies.known_works import policy

        return getattr(policy, name)
    raise AttributeError(name)


__all__ = ["KnownWorksOptions", "KnownWorksPolicy"]
