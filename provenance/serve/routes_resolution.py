"""The C2PA Soft Binding Resolution API over the studio's ledger: an offline manifest repository.

`GET /services/supportedAlgorithms`, `GET /matches/byBinding?alg=&value=` (value: base64
of the binding, as in the `c2pa.soft-binding` assertion), `POST /matches/byContent` (an
image, decoded and fingerprinted here) and `GET /manifests/{manifest_id}` (the stored
manifest store, `application/c2pa`).  Manifest ids are asset ids.  Like the rest of the
studio API, the routes need a session or a token.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile, status
from fastapi.responses import Response

from provenance.serve.auth import User, require_user
from provenance.serve.context import ServeContext, context
from provenance.serve.uploads import read_upload

router = APIRouter(tags=["soft binding resolution"])
Ctx = Annotated[ServeContext, Depends(context)]
AnyUser = Annotated[User, Depends(require_user)]


def _recover(ctx: ServeContext, data: bytes) -> dict[str, Any] | None:
    from provenance.verify.ledger_match import LedgerLookup

    return LedgerLookup(ctx.settings).recover(data)


@router.get("/services/supportedAlgorithms", summary="Soft-binding algorithms this studio writes")
def supported_algorithms(_user: AnyUser) -> Any:
    from provenance.softbinding import fingerprint, watermark

    return {
        "watermarks": [{"alg": alg} for alg in watermark.ALGORITHMS.values()],
        "fingerprints": [{"alg": fingerprint.ALG}],
    }


@router.get("/matches/byBinding", summary="Manifests whose soft binding has this value")
def matches_by_binding(
    ctx: Ctx, _user: AnyUser, alg: Annotated[str, Query()], value: Annotated[str, Query()]
) -> Any:
    from provenance.softbinding import fingerprint, watermark

    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "value is not base64") from None
    ledger = ctx.ledger()
    import sqlalchemy as sa

    from provenance.ledger import models

    table = models.soft_bindings
    if alg in watermark.ALGORITHMS.values() and len(raw) == 3:
        where = sa.and_(table.c.watermark_alg == alg, table.c.watermark_id == int.from_bytes(raw))
    elif alg == fingerprint.ALG and len(raw) == fingerprint.BITS // 8:
        where = table.c.fingerprint == raw
    else:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unsupported alg or value: {alg}")
    with ledger.read_snapshot() as conn:
        ids = [r[0] for r in conn.execute(sa.select(table.c.asset_id).where(where))]
    return {"matches": [{"manifestId": i} for i in ids]}


@router.post("/matches/byContent", summary="Manifests whose soft bindings match this image")
def matches_by_content(
    ctx: Ctx, _user: AnyUser, file: Annotated[UploadFile, File(description="an image")]
) -> Any:
    data = read_upload(file, ctx.settings.serve.max_upload_bytes)
    found = _recover(ctx, data)
    if found is None:
        return {"matches": []}
    match: dict[str, Any] = {"manifestId": found["asset_id"], "foundBy": found["found_by"]}
    if found.get("fingerprint_distance") is not None:
        match["similarityScore"] = 1 - found["fingerprint_distance"] / 256
    return {"matches": [match]}


@router.get("/manifests/{manifest_id}", summary="The stored manifest store of an asset")
def manifest(ctx: Ctx, _user: AnyUser, manifest_id: str) -> Response:
    row = ctx.ledger().soft_binding(manifest_id)
    if row is None or not row.get("manifest_store"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no manifest stored for this id")
    return Response(bytes(row["manifest_store"]), media_type="application/c2pa")
