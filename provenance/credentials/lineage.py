"""Who did what: the chain of steps from a file's first input to the file itself.

Two sources tell the same story and are read the same way:

* the ledger (`ledger_lineage`): each asset row links to the rows of its ingredients
  (`ingredients.source_asset_id`, found by manifest label or SHA-256 when appended; rows
  from before the link are matched at read time), and human steps carry their contributors;
* the credentials alone (`credentials_lineage`), for an auditor without the studio's
  ledger: the file's manifest store holds every earlier manifest, linked through each
  ingredient's `active_manifest`.

Each step says its kind (human sketch, model render, human retouch, ...), actor (a person
or a model card), actions, time, policy verdict and licence.  A step that cannot be found
(an ingredient whose row is not in the ledger, a recorded file gone from disk, a manifest
missing from the store) is named as missing, never skipped; a parent whose credentials
failed validation (its pixels changed after signing) is a problem, so the chain is not
clean.  A cycle through the ledger (only a hand-edited row can make one) is an error.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.credentials.manifest import GENERATION_LABEL, POLICY_LABEL, is_ai_source_type
from provenance.errors import LedgerError
from provenance.ledger import links

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from provenance.ledger import IngredientRecord, Ledger, LedgerEntry

HUMAN_SKETCH, HUMAN_RETOUCH, MODEL_RENDER = "human sketch", "human retouch", "model render"
UNSIGNED_INPUT, MISSING, SIGNED_STEP = "unsigned input", "missing", "signed step"
_PLURAL = {HUMAN_SKETCH: "human sketches", HUMAN_RETOUCH: "human retouches"}
_OK_STATES = frozenset({"Trusted", "Valid", None})
#: Deeper chains are refused as malformed (a cycle the walk could not see, or abuse).
MAX_DEPTH = 256


@dataclass
class LineageStep:
    """One step of a lineage and the steps it was made from (`inputs`)."""

    kind: str
    title: str
    actor: str | None = None
    actions: tuple[str, ...] = ()
    time: str | None = None
    verdict: str | None = None
    licence: str | None = None
    asset_id: str | None = None
    manifest_label: str | None = None
    sha256: str | None = None
    relationship: str | None = None
    problems: list[str] = field(default_factory=list)
    inputs: list[LineageStep] = field(default_factory=list)

    def walk(self) -> Iterator[LineageStep]:
        """Every step, inputs before what was made from them (first input first)."""
        for item in self.inputs:
            yield from item.walk()
        yield self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready tree (`audit lineage --json`, `verify --tree --json`)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("inputs", "actions", "problems")}
        out["actions"] = list(self.actions)
        out["problems"] = list(self.problems)
        out["inputs"] = [step.as_dict() for step in self.inputs]
        return out


@dataclass
class Lineage:
    """A file's lineage from one source (`ledger` or `credentials`)."""

    source: str
    root: LineageStep

    @property
    def steps(self) -> list[LineageStep]:
        """All steps, first input first."""
        return list(self.root.walk())

    @property
    def problems(self) -> list[str]:
        """Each problem, naming its step."""
        return [f"{s.title}: {p}" for s in self.steps for p in s.problems]

    @property
    def clean(self) -> bool:
        """No step missing and no step with a problem."""
        return not self.problems and all(s.kind != MISSING for s in self.steps)

    def summary(self) -> str:
        """`3 steps: 1 human sketch, 1 model render, 1 human retouch` (chronological)."""
        steps = [s for s in self.steps if s.kind != UNSIGNED_INPUT]
        inputs = len(self.steps) - len(steps)
        counts = Counter(s.kind for s in steps)
        order = list(dict.fromkeys(s.kind for s in steps))
        parts = [f"{counts[k]} {_PLURAL.get(k, k + 's') if counts[k] > 1 else k}" for k in order]
        line = f"{len(steps)} step{'s' if len(steps) != 1 else ''}: {', '.join(parts)}"
        if inputs:
            line += f"; {inputs} unsigned input{'s' if inputs != 1 else ''}"
        return line if self.clean else line + " (NOT a clean chain)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "summary": self.summary(),
            "clean": self.clean,
            "problems": self.problems,
            "steps": [_flat(s) for s in self.steps],
            "tree": self.root.as_dict(),
        }

    def lines(self, *, compact: bool = False) -> list[str]:
        """Human text per step (first input first), then the summary.

        `compact`: one line per step, problems left to the caller.
        """
        numbers = {id(step): n for n, step in enumerate(self.steps, start=1)}
        out = []
        for step in self.steps:
            n = numbers[id(step)]
            made_from = ", ".join(f"#{numbers[id(i)]} ({i.relationship})" for i in step.inputs)
            head = f"{n}. {step.kind}: {step.title}"
            if step.actor:
                head += f"  by {step.actor}"
            out.append(head)
            details = [
                ("id", step.asset_id or step.manifest_label),
                ("actions", ", ".join(step.actions)),
                ("time", step.time),
                ("verdict", step.verdict),
                ("licence", step.licence),
                ("from", made_from),
            ]
            if compact:
                keep = ("actions", "time", "from")
                out[-1] += "  " + "  ".join(f"{k}: {v}" for k, v in details if v and k in keep)
                continue
            out.extend(f"   {k}: {v}" for k, v in details if v)
            out.extend(f"   PROBLEM: {p}" for p in step.problems)
        out.append(self.summary())
        return out


def _flat(step: LineageStep) -> dict[str, Any]:
    out = step.as_dict()
    out["inputs"] = [i.asset_id or i.manifest_label or i.title for i in step.inputs]
    return out


# -- from the ledger ------------------------------------------------------------------------


def lineage_of(ledger: Ledger, target: str | Path) -> Lineage:
    """`audit lineage`: the lineage of a file or asset id, read in one ledger snapshot."""
    with ledger.read_snapshot("reading lineage") as conn:
        return _walk(conn, _find(conn, target))


def find_asset(ledger: Ledger, target: str | Path) -> LedgerEntry:
    """The ledger asset for an asset id or a file (by the SHA-256 of its bytes)."""
    with ledger.read_snapshot() as conn:
        return _find(conn, target)


def ledger_lineage(ledger: Ledger, entry: LedgerEntry) -> Lineage:
    """The lineage of a ledger asset: every linked ancestor loaded at once, then walked."""
    with ledger.read_snapshot("reading lineage") as conn:
        return _walk(conn, entry)


def _load(conn: Connection, where: Any) -> list[LedgerEntry]:
    from provenance.ledger import _read

    return [rows.to_entry() for rows in _read.load(conn, "asset", where)]


def _find(conn: Connection, target: str | Path) -> LedgerEntry:
    from provenance.errors import BadInputError
    from provenance.imageio import read_file
    from provenance.ledger import models

    table = models.assets
    path = Path(target)
    if not path.exists():
        by_id = _load(conn, table.c.asset_id == str(target))
        if not by_id:
            raise BadInputError(f"{target}: neither a file nor an asset id in the ledger")
        return by_id[0]
    digest = hashlib.sha256(read_file(path)).hexdigest()
    found = _load(conn, table.c.sha256 == digest)
    if found:
        return found[-1]
    raise BadInputError(
        f"{path}: not in the ledger (its bytes match no asset); "
        "`provenant verify --tree` shows its lineage from its credentials"
    )


def _walk(conn: Connection, entry: LedgerEntry) -> Lineage:
    entries = {entry.id: entry}
    _fetch(conn, entries, links.linked_ancestors(conn, entry.id))
    root = _ledger_step(entry, None)
    _add_inputs(conn, root, entry, entries, (entry.id,))
    return Lineage("ledger", root)


def _fetch(conn: Connection, entries: dict[str, LedgerEntry], ids: set[str]) -> None:
    from provenance.ledger import models

    wanted = sorted(ids - entries.keys())
    if wanted:
        for found in _load(conn, models.assets.c.asset_id.in_(wanted)):
            entries[found.id] = found


def _add_inputs(
    conn: Connection,
    step: LineageStep,
    entry: LedgerEntry,
    entries: dict[str, LedgerEntry],
    path: tuple[str, ...],
) -> None:
    if len(path) > MAX_DEPTH:
        raise LedgerError(f"lineage of {path[0]} is deeper than {MAX_DEPTH} steps")
    for item in entry.record.ingredients:  # type: ignore[union-attr]
        source = item.source_asset_id or links.source_of(conn, item)  # rows from before links
        if source is not None and source not in entries:
            _fetch(conn, entries, {source, *links.linked_ancestors(conn, source)})
        parent = entries.get(source) if source else None
        if parent is None:
            step.inputs.append(_unrecorded(item, source))
            continue
        if parent.id in path:
            raise LedgerError(f"cycle through the ledger: {' -> '.join((*path, parent.id))}")
        child = _ledger_step(parent, item)
        step.inputs.append(child)
        _add_inputs(conn, child, parent, entries, (*path, parent.id))


def ledger_ancestry_hashes(ledger: Ledger, sha256: str) -> set[str]:
    """SHA-256s of the asset with these bytes and of every asset linked below it.

    A few index lookups in one snapshot (no rows loaded, no files read): cheap enough for
    every `sign --parent`, which refuses an edit that would close a cycle.
    """
    return ledger.ancestry_hashes(sha256)


def _ledger_step(entry: LedgerEntry, via: IngredientRecord | None) -> LineageStep:
    record: Any = entry.record
    people = record.contributors or []
    parent = any(i.relationship == "parentOf" for i in record.ingredients)
    if people:
        person = people[0]
        kind = HUMAN_SKETCH if person.get("role") == "author" else HUMAN_RETOUCH
        tool = f" ({person['tool']})" if person.get("tool") else ""
        actor = f"{person.get('name')}{tool}"
        actions = tuple(person.get("actions") or ())
        actions = actions if kind == HUMAN_SKETCH else ("c2pa.opened", *actions)
    else:
        kind = MODEL_RENDER
        model = record.model or {}
        actor = f"{model.get('name', record.model_name)} {model.get('version', '')}".strip()
        actions = ("c2pa.opened", "c2pa.edited") if parent else ("c2pa.created",)
    step = LineageStep(
        kind=kind,
        title=Path(record.path).name,
        actor=actor,
        actions=actions,
        time=record.created_at.isoformat(),
        verdict=_strictest(d.action for d in record.decisions),
        licence=_licence(record.model or {}),
        asset_id=entry.id,
        manifest_label=record.manifest_label,
        sha256=record.sha256,
        relationship=via.relationship if via else None,
    )
    _check_file(step, Path(record.path))
    if via is not None and via.validation_state not in _OK_STATES:
        step.problems.append(
            f"its credentials were {via.validation_state} when it was used as an ingredient "
            "(changed after signing?)"
        )
    return step


def _unrecorded(item: IngredientRecord, source: str | None) -> LineageStep:
    """An ingredient the ledger does not hold: a plain input, or a missing step."""
    if item.manifest_label or source:
        what = f"asset {source}" if source else f"manifest {item.manifest_label}"
        step = LineageStep(MISSING, item.title or "?", sha256=item.sha256)
        step.manifest_label, step.relationship = item.manifest_label, item.relationship
        step.problems.append(f"missing: {what} is not in the ledger")
        return step
    return LineageStep(
        UNSIGNED_INPUT, item.title or "?", sha256=item.sha256, relationship=item.relationship
    )


def _check_file(step: LineageStep, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError:
        step.problems.append(f"missing: the file {path} is gone")
        return
    if hashlib.sha256(data).hexdigest() != step.sha256:
        step.problems.append(f"the file {path} changed since it was recorded")


def _strictest(actions: Iterator[str] | Sequence[str]) -> str:
    rank = ["allow", "warn", "needs_license", "block"]
    seen = [a for a in actions if a in rank]
    return max(seen, key=rank.index) if seen else "allow"


def _licence(model: Mapping[str, Any]) -> str | None:
    licence = model.get("license")
    uses = model.get("permitted_uses")
    if not licence:
        return None
    return f"{licence} (permits: {', '.join(uses)})" if isinstance(uses, list) else str(licence)


# -- from the credentials -------------------------------------------------------------------


def credentials_lineage(store: Mapping[str, Any], title: str) -> Lineage:
    """The lineage a manifest store tells by itself (`verify --tree`)."""
    manifests: Mapping[str, Any] = store.get("manifests") or {}
    active = store.get("active_manifest")
    if not active or active not in manifests:
        root = LineageStep(UNSIGNED_INPUT, title)
        root.problems.append("no readable active manifest")
        return Lineage("credentials", root)
    try:
        root = _manifest_step(manifests, str(active), title, None, (), store)
    except (AttributeError, TypeError, ValueError, KeyError):
        # Assertion data of an unexpected shape (another tool's, or a damaged file): the
        # chain cannot be read, which is said, never raised.
        root = LineageStep(SIGNED_STEP, title)
        root.problems.append("the manifest store's assertions have an unexpected shape")
    return Lineage("credentials", root)


def _manifest_step(
    manifests: Mapping[str, Any],
    label: str,
    title: str,
    relationship: str | None,
    path: tuple[str, ...],
    store: Mapping[str, Any] | None = None,
) -> LineageStep:
    if label in path or len(path) > MAX_DEPTH:
        step = LineageStep(MISSING, title, manifest_label=label, relationship=relationship)
        step.problems.append("the manifest store loops back on itself")
        return step
    manifest = manifests[label] or {}
    assertions = {
        str(a.get("label", "")): a.get("data") or {} for a in manifest.get("assertions") or ()
    }
    actions = [
        a
        for lbl, data in assertions.items()
        if lbl.startswith("c2pa.actions")
        for a in data.get("actions") or ()
    ]
    names = tuple(str(a.get("action")) for a in actions)
    actors = [str(x.get("identifier")) for a in actions for x in a.get("actors") or () if x]
    generation = assertions.get(GENERATION_LABEL) or {}
    policy = assertions.get(POLICY_LABEL) or {}
    card = generation.get("model")
    model: dict[str, Any] = card if isinstance(card, dict) else {}
    ai = any(is_ai_source_type(a.get("digitalSourceType")) for a in actions)
    agent = next((a.get("softwareAgent") for a in actions if a.get("softwareAgent")), None)
    actor: str | None
    if actors:
        kind = HUMAN_SKETCH if "c2pa.created" in names else HUMAN_RETOUCH
        actor = ", ".join(dict.fromkeys(actors))
        if isinstance(agent, dict) and agent.get("name") and agent.get("name") != "provenant":
            actor += f" ({agent['name']} {agent.get('version', '')})".replace(" )", ")")
    elif ai:
        kind = MODEL_RENDER
        actor = f"{model.get('name', '')} {model.get('version', '')}".strip() or _agent(agent)
    else:
        kind, actor = SIGNED_STEP, _agent(agent)
    verdict = (policy.get("image") or policy.get("prompt") or {}).get("action")
    step = LineageStep(
        kind=kind,
        title=str(manifest.get("title") or title),
        actor=actor,
        actions=names,
        time=(manifest.get("signature_info") or {}).get("time"),
        verdict=str(verdict) if verdict else None,
        licence=_licence(model),
        manifest_label=label,
        relationship=relationship,
    )
    if store is not None and store.get("validation_state") not in ("Trusted", "Valid"):
        step.problems.append(f"credentials are {store.get('validation_state', 'unknown')}")
    for item in manifest.get("ingredients") or ():
        step.inputs.append(_ingredient_step(manifests, item, (*path, label)))
    return step


def _ingredient_step(
    manifests: Mapping[str, Any], item: Mapping[str, Any], path: tuple[str, ...]
) -> LineageStep:
    title = str(item.get("title") or "?")
    relationship = str(item.get("relationship") or "?")
    own = item.get("active_manifest")
    failures = _failures(item)
    if own and own in manifests:
        step = _manifest_step(manifests, str(own), title, relationship, path)
    elif own:
        step = LineageStep(MISSING, title, manifest_label=str(own), relationship=relationship)
        step.problems.append(f"missing: manifest {own} is not in the store")
    else:
        step = LineageStep(UNSIGNED_INPUT, title, relationship=relationship)
    if failures:
        step.problems.append(
            "its credentials failed validation when it was used: " + ", ".join(failures)
        )
    return step


def _failures(item: Mapping[str, Any]) -> list[str]:
    results = item.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    codes = [str(f.get("code")) for f in active.get("failure") or () if f.get("code")]
    codes += [str(s.get("code")) for s in item.get("validation_status") or () if s.get("code")]
    return [c for c in dict.fromkeys(codes) if c != "signingCredential.untrusted"]


def _agent(agent: Any) -> str | None:
    if isinstance(agent, dict):
        return f"{agent.get('name', '')} {agent.get('version', '')}".strip() or None
    return str(agent) if agent else None
