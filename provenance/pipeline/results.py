"""What the pipeline hands back: per-image results, refusals, and the request's outcome.

These are what `Studio.generate` returns, what `provenant generate --json` prints and what a
batch summary counts, so they carry ids, paths, hashes and verdicts — everything an auditor
would look up in the ledger afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provenance.errors import EXIT_BLOCKED, EXIT_OK
from provenance.verdict import Verdict

Status = Literal["done", "partial", "skipped"]


@dataclass(frozen=True)
class ImageResult:
    """One signed, recorded output."""

    index: int
    asset_id: str
    path: Path
    sha256: str
    seed: int
    manifest_label: str
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json` output."""
        return {
            "index": self.index,
            "asset_id": self.asset_id,
            "path": str(self.path),
            "sha256": self.sha256,
            "seed": self.seed,
            "manifest_label": self.manifest_label,
            "verdict": self.verdict.as_dict(),
        }


@dataclass(frozen=True)
class RefusalResult:
    """A refusal the pipeline recorded: the whole request (index None) or one image."""

    refusal_id: str
    stage: str
    index: int | None
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json` output."""
        return {
            "refusal_id": self.refusal_id,
            "stage": self.stage,
            "index": self.index,
            "verdict": self.verdict.as_dict(),
        }


@dataclass
class GenerationResult:
    """The outcome of one request.

    `done`: every image signed and recorded; `partial`: some images were refused by the image
    screen (the rest are recorded); `skipped`: a resumed request found nothing left to do.
    A request refused before generation raises `PolicyBlocked` instead of returning.
    """

    request_id: str
    status: Status
    prompt_verdict: Verdict
    images: list[ImageResult] = field(default_factory=list)
    refusals: list[RefusalResult] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def exit_code(self) -> int:
        """3 when anything was refused, else 0 (DESIGN.md exit codes)."""
        return EXIT_BLOCKED if self.refusals else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json` output."""
        out: dict[str, Any] = {
            "request_id": self.request_id,
            "status": self.status,
            "prompt_verdict": self.prompt_verdict.as_dict(),
            "images": [i.as_dict() for i in self.images],
            "refusals": [r.as_dict() for r in self.refusals],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
        if self.note:
            out["note"] = self.note
        return out
