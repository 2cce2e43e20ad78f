"""`/api/...`: the JSON API, documented by FastAPI's OpenAPI page (`/docs`).

`verify` and `screen` are open (anyone may check an image they received); everything else
needs a session or a token.  Answers are the same JSON the CLI's `--json` prints.  No value
in a request names a file: uploads are read in memory, generation requests may not point
at input images or model paths, and downloads serve only files inside the data dir that
the ledger recorded with the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from provenance.ledger.records import AssetRecord, LedgerEntry
from provenance.pipeline.requests import RequestSpec
from provenance.serve.auth import GENERATE_ROLES, User, require_role, require_user
from provenance.serve.context import ServeContext, context
from provenance.serve.uploads import read_upload
from provenance.verify.verifier import State

router = APIRouter(prefix="/api", tags=["api"])
Ctx = Annotated[ServeContext, Depends(context)]
AnyUser = Annotated[User, Depends(require_user)]


class ScreenBody(BaseModel):
    """A prompt to screen with the enabled policies (nothing is generated)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=100_000)
    use: Literal["commercial", "internal", "research"] | None = None


class JobAccepted(BaseModel):
    """A queued generation job and where to poll it."""

    job_id: str
    status: str
    request_id: str
    status_url: str


@router.post(
    "/verify", summary="Verify an image's content credentials (the `verify --json` object)"
)
def verify(ctx: Ctx, file: Annotated[UploadFile, File(description="PNG, JPEG or WebP")]) -> Any:
    """Verify the uploaded image in memory (it is not stored) against the studio's trust
    anchors and ledger; the answer is exactly one object of `provenant verify --json`.

    400 empty file, 413 over the byte or pixel cap, 415 not a PNG/JPEG/WebP, 422 an image
    too damaged to read (the report, with `error`)."""
    data = read_upload(file, ctx.settings.serve.max_upload_bytes)
    report = ctx.verifier().verify_bytes(data, _display_name(file))
    if report.state is State.UNREADABLE:  # a corrupt file: the report, under a 422
        return JSONResponse({"error": report.reason, **report.to_dict()}, status_code=422)
    return report.to_dict()


@router.post("/screen", summary="Screen a prompt with the enabled policies")
def screen(ctx: Ctx, body: ScreenBody) -> Any:
    """The combined verdict on a prompt, as one line of `provenant screen --json`."""
    from provenance.types import GenerationRequest

    request = GenerationRequest(prompt=body.prompt, generator="none", use=body.use)
    verdict = ctx.policies().screen_prompt(request)
    return {"input": "prompt", "source": "api", "refused": verdict.refuses, **verdict.as_dict()}


@router.post("/screen/image", summary="Screen an uploaded image with the enabled policies")
def screen_image(
    ctx: Ctx, file: Annotated[UploadFile, File(description="PNG, JPEG or WebP")]
) -> Any:
    """The combined verdict on an image (known works, output safety), held in memory."""
    from provenance.errors import BadInputError
    from provenance.imageio import open_image
    from provenance.pipeline.policyset import as_screenable
    from provenance.types import GenerationRequest

    data = read_upload(file, ctx.settings.serve.max_upload_bytes)
    try:
        pixels = open_image(data, _display_name(file)).convert("RGB")
    except BadInputError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.diagnostics()) from None
    request = GenerationRequest(prompt="", generator="none")
    verdict = ctx.policies().screen_image(as_screenable(pixels), request)
    source = _display_name(file)
    return {"input": "image", "source": source, "refused": verdict.refuses, **verdict.as_dict()}


@router.get("/assets/{asset_id}", summary="One recorded asset: record, verdict, chain position")
def asset(ctx: Ctx, user: AnyUser, asset_id: str) -> Any:
    """The ledger entry of an asset, as `audit show --json` gives it."""
    from provenance.audit.show import EntryDetail, row_verifies

    ledger = ctx.ledger()
    entry = readable_asset(ctx, user, asset_id)
    detail = EntryDetail(entry, row_verifies(ledger, entry), ["asset_id"])
    out = detail.as_dict(ledger.head()[0], None)
    out["record"].pop("path", None)
    out["download_url"] = f"/api/assets/{entry.id}/file"
    return out


@router.get("/assets/{asset_id}/lineage", summary="An asset's ingredients, as far as recorded")
def asset_lineage(ctx: Ctx, user: AnyUser, asset_id: str) -> Any:
    """The tree of ingredients; each one the studio recorded itself carries its own."""
    from provenance.serve.lineage import lineage

    entry = readable_asset(ctx, user, asset_id)
    return lineage(ctx.ledger(), entry, lambda e: may_read(user, e))


@router.get(
    "/assets/{asset_id}/file",
    summary="Download a recorded output",
    response_class=FileResponse,
)
def asset_file(ctx: Ctx, user: AnyUser, asset_id: str) -> FileResponse:
    """The signed file, if it lies in the data dir and still has the recorded bytes."""
    entry = readable_asset(ctx, user, asset_id)
    record = entry.record
    assert isinstance(record, AssetRecord)
    path = Path(record.path)
    home = ctx.settings.home.resolve()
    try:
        resolved = path.resolve(strict=True)
        inside = resolved.is_relative_to(home)
        same = inside and hashlib.sha256(resolved.read_bytes()).hexdigest() == record.sha256
    except OSError:
        inside = same = False
    if not inside or not same:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{asset_id}: the recorded file is not served from here"
        )
    return FileResponse(resolved, media_type=record.mime, filename=resolved.name)


@router.post(
    "/generate",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a generation request (a batch-file line); poll /api/jobs/{id}",
)
def generate(
    ctx: Ctx, spec: RequestSpec, user: Annotated[User, Depends(require_role(GENERATE_ROLES))]
) -> JobAccepted:
    """Queue one request as written in a batch file.  The requester recorded in the ledger is
    the logged-in user, whatever the body says; input images and model paths are refused
    (a request may not name files on the server)."""
    if spec.init is not None or spec.style is not None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "init and style images cannot be named over the API"
        )
    if spec.model is not None and _names_a_path(spec.model):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"model {spec.model!r}: only preset names or the configured model can be used "
            "over the API, not paths",
        )
    spec = spec.model_copy(update={"requester": user.name})
    request = spec.to_request(ctx.output_dir, ctx.settings.generators.default)
    job = ctx.jobs.submit(request, user.name, ctx.output_dir)
    return JobAccepted(
        job_id=job["job_id"],
        status=job["status"],
        request_id=job["request_id"],
        status_url=f"/api/jobs/{job['job_id']}",
    )


@router.get("/jobs/{job_id}", summary="A generation job's status and, when done, its result")
def job_status(ctx: Ctx, user: AnyUser, job_id: str) -> Any:
    """`queued`, `running`, `done` or `failed`; a done job lists asset ids and download URLs."""
    job = ctx.jobs.get(job_id)
    if job is None or not (user.reads_all or job.get("owner") == user.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return job


def may_read(user: User, entry: LedgerEntry) -> bool:
    """Leads, auditors and admins read everything; artists their own assets."""
    return user.reads_all or getattr(entry.record, "requester", None) == user.name


def readable_asset(ctx: ServeContext, user: User, asset_id: str) -> LedgerEntry:
    """The asset entry if it exists and `user` may read it; 404 otherwise (the same answer
    either way, so ids of other people's assets cannot be probed)."""
    entry = ctx.ledger().get_asset(asset_id)
    if entry is None or not may_read(user, entry):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {asset_id}")
    return entry


def _display_name(upload: UploadFile) -> str:
    """The upload's own file name, reduced to its last part (never a path on the server)."""
    name = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    return name[:200] or "upload"


def _names_a_path(model: str) -> bool:
    """A model value that points into the server's file system rather than naming a preset
    (the generator plugins' presets are plain names, such as `gan-face-generate`)."""
    return any(sep in model for sep in ("/", "\\")) or model.startswith((".", "~"))
