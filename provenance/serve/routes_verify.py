"""`/`: the verification page.  Anyone may drop or pick images and read their history.

The page works without script (a plain multipart form posting back to `/`); `verify.js`
only adds drag and drop.  Each file is verified in memory with the same `Verifier` as
`provenant verify` and shown in words, with a thumbnail, the signer and issuer, the AI
disclosure, the generator and model card, the policy verdict, the ingredients, and the
studio's ledger record (with its lineage) when the ledger knows the file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from provenance.errors import ProvenantError
from provenance.serve.context import ServeContext, context
from provenance.serve.describe import describe
from provenance.serve.uploads import read_upload, thumbnail_uri

router = APIRouter(include_in_schema=False)
Ctx = Annotated[ServeContext, Depends(context)]
#: Files verified per form post.
MAX_FILES = 20


@router.get("/report.css")
def report_css() -> Response:
    """The audit report's stylesheet, shared by every page."""
    from provenance.audit.render import report_css as css

    return Response(css(), media_type="text/css")


@router.get("/", response_class=HTMLResponse)
def page(request: Request, ctx: Ctx) -> HTMLResponse:
    """The empty page: a drop zone and a file picker."""
    return ctx.templates.TemplateResponse(request, "verify.html", {"results": [], "skipped": 0})


@router.post("/", response_class=HTMLResponse)
def results(request: Request, ctx: Ctx, files: Annotated[list[UploadFile], File()]) -> HTMLResponse:
    """The page with one result card per uploaded file (bad files get a card saying why)."""
    cards = [_card(ctx, upload) for upload in files[:MAX_FILES]]
    skipped = max(0, len(files) - MAX_FILES)
    return ctx.templates.TemplateResponse(
        request, "verify.html", {"results": cards, "skipped": skipped}
    )


def _card(ctx: ServeContext, upload: UploadFile) -> dict[str, Any]:
    name = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200]
    try:
        data = read_upload(upload, ctx.settings.serve.max_upload_bytes)
    except HTTPException as exc:
        return {"name": name, "error": str(exc.detail), "status": exc.status_code}
    described = describe(ctx.verifier().verify_bytes(data, name))
    card: dict[str, Any] = {
        "name": name,
        "error": None,
        "d": described,
        "r": described.report,
        "thumbnail": thumbnail_uri(data),
        "record": None,
        "lineage": None,
    }
    ledger_match = described.report.get("ledger") or {}
    if ledger_match.get("found") and ledger_match.get("asset_id"):
        card.update(_ledger_view(ctx, ledger_match["asset_id"]))
    return card


def _ledger_view(ctx: ServeContext, asset_id: str) -> dict[str, Any]:
    """The public part of the studio's record: what was made, how, and from what.

    The prompt, requester and project stay on the audit dashboard (they are the studio's
    internal data); the page shows the generator, model, seed, verdict and lineage.
    """
    from provenance.serve.lineage import asset_summary, lineage

    try:
        ledger = ctx.ledger()
        entry = ledger.get_asset(asset_id)
        if entry is None:
            return {}
        tree = lineage(ledger, entry, lambda _e: True)
    except ProvenantError:
        return {}
    record = asset_summary(entry)
    for private in ("requester", "project"):
        record.pop(private, None)
    return {"record": record, "lineage": _strip_private(tree)}


def _strip_private(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in ("requester", "project")}
    out["ingredients"] = [
        {**i, "asset": _strip_private(i["asset"]) if i.get("asset") else None}
        for i in node.get("ingredients", [])
    ]
    return out
