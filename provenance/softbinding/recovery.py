"""Finding an image's ledger record from its pixels: the watermark's id, the fingerprint.

`Recoverer.recover(data)` decodes the watermark (when the image is large enough and the
ledger holds watermarked assets) and computes the PDQ hashes of the eight flips and
rotations, then looks both up among the ledger's soft bindings.  It reports how the record
was found: `watermark`, `fingerprint` or `both`, with the fingerprint distance, and
`fingerprint_mismatch` when the decoded id names an asset whose fingerprint is far from
these pixels (a watermark copied or forged onto another image).  A payload that fails its
check bits, or names no issued id, is simply no watermark match, never an error.

Recovery only points at a record: the caller keeps the file's own credential state.
"""

from __future__ import annotations

from typing import Any

from provenance.ledger.lookup import AssetLookup
from provenance.softbinding import fingerprint, payload, watermark
from provenance.softbinding.index import FingerprintIndex

#: At or below this PDQ distance the file is a close copy; above (up to MATCH_DISTANCE)
#: a derived one (re-encoded, resized, cropped or recoloured).
CLOSE_COPY_DISTANCE = 8


class Recoverer:
    """Soft-binding lookups over one read-only ledger connection (loaded on first use)."""

    def __init__(self, lookup: AssetLookup) -> None:
        self._lookup = lookup
        self._loaded = False
        self._by_watermark: dict[int, str] = {}
        self._algs: set[str] = set()
        self._assets: list[str] = []
        self._prints: dict[str, bytes] = {}
        self._index: FingerprintIndex | None = None

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lookup.snapshot("reading soft bindings"):
            rows = self._lookup.soft_bindings()
        hashes = []
        for asset_id, wid, alg, print_ in rows:
            if wid is not None and alg:
                self._by_watermark[int(wid)] = asset_id
                self._algs.add(alg)
            if print_ is not None and len(print_) == fingerprint.BITS // 8:
                self._assets.append(asset_id)
                self._prints[asset_id] = print_
                hashes.append(print_)
        if hashes:
            self._index = FingerprintIndex(hashes)
        self._loaded = True

    def holds_bindings(self) -> bool:
        """Whether the ledger holds any watermark or fingerprint to look pixels up by."""
        self._load()
        return bool(self._by_watermark) or self._index is not None

    def recover(self, data: bytes) -> dict[str, Any] | None:
        """What the ledger says these pixels are, or None when nothing matches."""
        if not self.holds_bindings():
            return None
        from provenance.softbinding.marking import decode_rgb

        rgb = decode_rgb(data)
        marked_id, alg = self._watermark(rgb)
        variants = fingerprint.pdq_dihedral(rgb) if self._index is not None else []
        near = self._index.nearest(variants, fingerprint.MATCH_DISTANCE) if self._index else None
        by_print = self._assets[near.position] if near is not None else None
        by_mark = self._by_watermark.get(marked_id) if marked_id is not None else None
        if by_mark is None and by_print is None:
            return None
        asset_id = by_mark or by_print
        assert asset_id is not None
        distance = self._distance(asset_id, variants)
        found_by = (
            "both" if by_mark and by_mark == by_print else "watermark" if by_mark else "fingerprint"
        )
        out: dict[str, Any] = {
            "asset_id": asset_id,
            "found_by": found_by,
            "watermark_alg": alg if by_mark else None,
            "fingerprint_distance": distance,
            "fingerprint_threshold": fingerprint.MATCH_DISTANCE,
            "fingerprint_mismatch": bool(by_mark)
            and (distance is None or distance > fingerprint.MATCH_DISTANCE),
            "copy": _copy_kind(distance),
            "watermark_checked": bool(self._by_watermark)
            and watermark.fits(rgb.shape[1], rgb.shape[0]),
        }
        if by_mark and by_print and by_mark != by_print:
            out["fingerprint_names"] = by_print
        out["record"] = self._summary(asset_id)
        return out

    def _watermark(self, rgb: Any) -> tuple[int | None, str | None]:
        if not self._by_watermark or not watermark.fits(rgb.shape[1], rgb.shape[0]):
            return None, None
        for alg in sorted(self._algs):
            marker = watermark.by_alg(alg)
            if marker is None:
                continue
            wid = payload.decode(marker.decode(rgb))
            if wid is not None and wid in self._by_watermark:
                return wid, alg
        return None, None

    def _distance(self, asset_id: str, variants: list[bytes]) -> int | None:
        stored = self._prints.get(asset_id)
        if stored is None or not variants:
            return None
        return min(fingerprint.distance(stored, v) for v in variants)

    def _summary(self, asset_id: str) -> dict[str, Any]:
        """The recovered row's facts, and `chain_ok`: whether its row hash recomputes and
        links to the entry before it (the same check a hash match gets)."""
        from provenance.ledger.lookup import entry_intact

        with self._lookup.snapshot("reading the recovered record"):
            rows = self._lookup.assets(asset_ids=[asset_id])
            if not rows:
                return {}
            row = rows[0]
            children = self._lookup.children([asset_id])[asset_id]
            seq = row.get("seq")
            before = self._lookup.row_hashes_at([seq - 1]) if isinstance(seq, int) else {}
        keys = ("generator", "model_name", "seed", "request_id", "requester",
                "project", "created_at", "manifest_label", "path", "sha256")  # fmt: skip
        out = {k: _plain(row.get(k)) for k in keys if k in row}
        predecessor = before.get(seq - 1) if isinstance(seq, int) else None
        out["chain_ok"] = entry_intact(row, children, predecessor)
        return out


def _copy_kind(distance: int | None) -> str | None:
    if distance is None or distance > fingerprint.MATCH_DISTANCE:
        return None
    return "close copy" if distance <= CLOSE_COPY_DISTANCE else "derived"


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
