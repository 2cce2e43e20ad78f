"""Known works: the studio's registry of protected works and the policy that screens for them.

Modules: `specs` (what a work is), `prepare` (reading, hashing, embedding), `models` and
`registry` (database), `importer` (JSONL/CSV), `hashing`, `hashindex`, `vectors` and `index`
(the search structures), `reindex` (recomputing derived data), `names` (prompt name
matching), `policy` (`KnownWorksPolicy`, registered as the `known_works` entry point in
`provenant.policies`).
"""

from __future__ import annotations

from provenance.policies.known_works.policy import KnownWorksOptions, KnownWorksPolicy

__all__ = ["KnownWorksOptions", "KnownWorksPolicy"]
