"""Keeping the saved known-works index current: reuse it, bring it forward, or rebuild it.

A screen asks for the index of the registry as it is now.  In order of cost:

- the saved index reflects the registry (one revision read, and the files' digests): use it;
- it is behind, and the registry's change log covers the gap with works added and removed:
  apply them (`delta.forward`) and save the result;
- otherwise (missing, corrupt, another database or model, a gap in the log, recomputed
  derived data, too many tombstones): rebuild from every row.

`notify` hears which and why, so a studio learns that a screen paid for an update or a build
instead of wondering why it was slow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from provenance.policies.known_works.delta import forward, logged_changes
from provenance.policies.known_works.index import IndexStamp, KnownWorksIndex, ProgressFn
from provenance.policies.known_works.registry import KnownWorksRegistry, RegistryStamp


def current_index(
    registry: KnownWorksRegistry,
    root: Path,
    clip_model: str | None,
    exact_max: int = 200_000,
    notify: Callable[[str], None] | None = None,
    progress: ProgressFn | None = None,
    semantic_model: str | None = None,
) -> KnownWorksIndex:
    """The index for the registry as it is now: the saved one, brought forward, or rebuilt."""
    stamp = registry.stamp()
    found, problem = KnownWorksIndex.inspect(root)
    if found is not None and found.stamp.reflects(stamp, clip_model, semantic_model):
        return found
    if found is not None and _can_follow(found.stamp, stamp, clip_model, semantic_model):
        changes = logged_changes(registry, found.stamp.revision, stamp.revision) or []
        moved = forward(found, registry, changes)  # None when the log cannot do it
        if moved is not None:
            moved.restamped(stamp.revision).save(root)
            if notify is not None:
                notify(
                    f"known-works index brought forward from registry revision "
                    f"{found.stamp.revision} to {stamp.revision} "
                    f"({len(changes)} change(s) applied, no rebuild)"
                )
            return moved
    if notify is not None:
        notify(problem or stale_reason(found.stamp if found else None, stamp, clip_model,
                                       semantic_model))  # fmt: skip
    index = KnownWorksIndex.build(registry, clip_model, exact_max, progress, semantic_model)
    index.save(root)
    return index


def _can_follow(
    found: IndexStamp, stamp: RegistryStamp, clip_model: str | None, semantic_model: str | None
) -> bool:
    """Whether only the registry moved on since `found` was built (same database, models)."""
    return (
        found.registry_id == stamp.registry_id
        and found.clip_model == clip_model
        and found.semantic_model == semantic_model
        and found.revision < stamp.revision
    )


def stale_reason(
    found: IndexStamp | None,
    stamp: RegistryStamp,
    clip_model: str | None,
    semantic_model: str | None = None,
) -> str:
    """Why an index does not reflect the registry, in words."""
    if found is None:
        return "known-works index is missing or unreadable; building it"
    if found.registry_id != stamp.registry_id:
        return "known-works index was built from another database; rebuilding it"
    if found.clip_model != clip_model:
        return (
            f"known-works index was built for CLIP model {found.clip_model or 'none'}, "
            f"now {clip_model or 'none'}; rebuilding it"
        )
    if found.semantic_model != semantic_model and found.revision == stamp.revision:
        return (
            f"known-works index was built for text encoder {found.semantic_model or 'none'}, "
            f"now {semantic_model or 'none'}; rebuilding it"
        )
    return (
        f"known-works index is stale (built at registry revision {found.revision}, "
        f"registry now at {stamp.revision}); rebuilding it"
    )
