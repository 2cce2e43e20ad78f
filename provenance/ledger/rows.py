"""Records to table rows and back: the one mapping between dataclasses and columns.

`EntryRows` holds an entry exactly as it is (or will be) stored: the parent row and its
child rows as column dicts.  The row hash is computed from an `EntryRows`, both when
appending (from a record) and when verifying (from what the database returned), so there is
one code path for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from provenance.errors import LedgerError
from provenance.ledger import canonical
from provenance.ledger.records import (
    AssetRecord,
    AttributionRecord,
    DecisionRecord,
    EntryKind,
    IngredientRecord,
    LedgerEntry,
    LedgerRecord,
    RefusalRecord,
)

Row = dict[str, Any]

#: Column -> record attribute, where they differ.
_ATTRIBUTE = {"declared_use": "use", "declared_license": "license"}
_CHILD_ID_COLUMN = {
    "policy_decisions": "decision_id",
    "attributions": "attribution_id",
    "ingredients": "ingredient_id",
}


@dataclass
class EntryRows:
    """One chain entry as table rows: parent row plus child rows per child table."""

    kind: EntryKind
    row: Row
    children: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def seq(self) -> Any:
        """The entry's position in the chain (as stored: may be mistyped if hand-edited)."""
        return self.row.get("seq")

    @property
    def id(self) -> str:
        """The entry's id (asset_id or refusal_id)."""
        return str(self.row.get("asset_id" if self.kind == "asset" else "refusal_id"))

    def compute_hash(self, prev_hash: str) -> str:
        """The row hash this entry must carry if it follows an entry hashed `prev_hash`."""
        return canonical.row_hash(prev_hash, self.kind, self.row, self.children)

    def to_entry(self) -> LedgerEntry:
        """The typed entry (raises `LedgerError` naming the row if it cannot be read)."""
        try:
            if not isinstance(self.seq, int):
                raise LedgerError(f"seq {self.seq!r} is not an integer")
            record = _asset_record(self) if self.kind == "asset" else _refusal_record(self)
        except LedgerError as exc:
            raise LedgerError(f"ledger row seq {self.seq} ({self.kind} {self.id}): {exc}") from exc
        return LedgerEntry(
            kind=self.kind,
            id=self.id,
            seq=self.seq,
            prev_hash=str(self.row["prev_hash"]),
            row_hash=str(self.row["row_hash"]),
            record=record,
        )


def entry_rows(record: LedgerRecord, seq: int, prev_hash: str) -> EntryRows:
    """The rows that store `record` at `seq` after `prev_hash`, with its row hash filled in."""
    if isinstance(record, AssetRecord):
        rows = _asset_rows(record, seq)
    elif isinstance(record, RefusalRecord):
        rows = _refusal_rows(record, seq)
    else:
        raise LedgerError(f"cannot record a {type(record).__name__}; expected a ledger record")
    rows.row["prev_hash"] = prev_hash
    rows.row["row_hash"] = rows.compute_hash(prev_hash)
    return rows


def _parent_row(record: LedgerRecord, table: str, seq: int) -> Row:
    row: Row = {
        column: getattr(record, _ATTRIBUTE.get(column, column), None)
        for column in canonical.COLUMNS[table]
    }
    row["seq"] = seq
    return row


def _asset_rows(record: AssetRecord, seq: int) -> EntryRows:
    row = _parent_row(record, "assets", seq)
    owner = {"asset_id": record.asset_id, "refusal_id": None}
    children = {
        "policy_decisions": _children("policy_decisions", owner, record.decisions),
        "attributions": _children(
            "attributions", {"asset_id": record.asset_id}, record.attributions
        ),
        "ingredients": _children("ingredients", {"asset_id": record.asset_id}, record.ingredients),
    }
    return EntryRows("asset", row, children)


def _refusal_rows(record: RefusalRecord, seq: int) -> EntryRows:
    row = _parent_row(record, "refusals", seq)
    owner = {"asset_id": None, "refusal_id": record.refusal_id}
    return EntryRows(
        "refusal", row, {"policy_decisions": _children("policy_decisions", owner, record.decisions)}
    )


def _children(table: str, owner: Mapping[str, Any], items: Sequence[Any]) -> list[Row]:
    owner_id = next(v for v in owner.values() if v is not None)
    rows = []
    for position, item in enumerate(items):
        row: Row = {
            _CHILD_ID_COLUMN[table]: f"{owner_id}/{position}",
            **owner,
            "position": position,
        }
        for column in canonical.COLUMNS[table]:
            row.setdefault(column, getattr(item, column, None))
        rows.append(row)
    return rows


def _child(cls: type[Any], row: Row) -> Any:
    """A child record from its row (its field names are its table's column names)."""
    return cls(**{f.name: row[f.name] for f in fields(cls)})


def _record_fields(rows: EntryRows, table: str, skip: tuple[str, ...]) -> dict[str, Any]:
    values = {}
    for column in canonical.COLUMNS[table]:
        if column not in skip:
            values[_ATTRIBUTE.get(column, column)] = rows.row[column]
    return values


def _sorted_children(rows: EntryRows, table: str) -> list[Row]:
    return sorted(rows.children.get(table, ()), key=canonical.position_key)


def _asset_record(rows: EntryRows) -> AssetRecord:
    return AssetRecord(
        **_record_fields(rows, "assets", skip=("seq",)),
        decisions=[_child(DecisionRecord, r) for r in _sorted_children(rows, "policy_decisions")],
        attributions=[_child(AttributionRecord, r) for r in _sorted_children(rows, "attributions")],
        ingredients=[_child(IngredientRecord, r) for r in _sorted_children(rows, "ingredients")],
    )


def _refusal_record(rows: EntryRows) -> RefusalRecord:
    return RefusalRecord(
        **_record_fields(rows, "refusals", skip=("seq",)),
        decisions=[_child(DecisionRecord, r) for r in _sorted_children(rows, "policy_decisions")],
    )
