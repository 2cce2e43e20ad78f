"""Running many requests: each one's outcome recorded, failures contained, resumable.

A batch keeps going past a failed or refused request and ends with a summary.  Running the
same batch file again skips what is already done: the ledger knows each request id's
recorded images and refusals (`Ledger.request_state`), so nothing is generated or recorded
twice, and the pipeline's crash recovery finishes any commit an interruption cut short.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK, PolicyBlocked, ProvenantError
from provenance.pipeline.requests import BatchLine
from provenance.pipeline.results import GenerationResult
from provenance.pipeline.studio import Studio
from provenance.types import GenerationRequest
from provenance.verdict import Verdict

Outcome = Literal["done", "partial", "skipped", "blocked", "failed"]


@dataclass(frozen=True)
class RequestOutcome:
    """What happened to one request of a batch (or the single request of `generate`)."""

    request_id: str | None
    outcome: Outcome
    result: GenerationResult | None = None
    verdict: Verdict | None = None
    error: str | None = None
    line_no: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: one line per request in `generate --json` output."""
        out: dict[str, Any] = {"request_id": self.request_id, "outcome": self.outcome}
        if self.line_no is not None:
            out["line"] = self.line_no
        if self.result is not None:
            out.update({k: v for k, v in self.result.as_dict().items() if k != "request_id"})
        if self.verdict is not None:
            out["verdict"] = self.verdict.as_dict()
        if self.error is not None:
            out["error"] = self.error
        return out


def run_request(studio: Studio, request: GenerationRequest, out_dir: Path) -> RequestOutcome:
    """Run one request; a refusal or a `ProvenantError` becomes an outcome, not an exception.

    Contained here, per request, so one bad request cannot stop a batch; the error text is
    the same one-line diagnostic the CLI would print.
    """
    return contained(request.request_id, lambda: studio.generate(request, out_dir))


def contained(
    request_id: str | None, make: Callable[[], GenerationResult], line_no: int | None = None
) -> RequestOutcome:
    """The outcome of `make()`: its result, or the refusal or error it raised.

    The one place a request's `PolicyBlocked` and `ProvenantError` become outcomes, for the
    local batch and for the farm's driver alike."""
    try:
        result = make()
    except PolicyBlocked as exc:
        verdict = exc.verdict if isinstance(exc.verdict, Verdict) else None
        return RequestOutcome(request_id, "blocked", verdict=verdict, line_no=line_no)
    except ProvenantError as exc:
        return RequestOutcome(request_id, "failed", error=exc.diagnostics(), line_no=line_no)
    return RequestOutcome(request_id, result.status, result=result, line_no=line_no)


@dataclass
class BatchSummary:
    """Counts per outcome, and every outcome in input order."""

    outcomes: list[RequestOutcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Requests per outcome (done, partial, skipped, blocked, failed)."""
        counted = Counter(o.outcome for o in self.outcomes)
        return {k: counted.get(k, 0) for k in ("done", "partial", "skipped", "blocked", "failed")}

    @property
    def images(self) -> int:
        """Signed and recorded images in this run."""
        return sum(len(o.result.images) for o in self.outcomes if o.result is not None)

    @property
    def exit_code(self) -> int:
        """1 if any request failed, else 3 if anything was refused, else 0."""
        counts = self.counts
        if counts["failed"]:
            return EXIT_ERROR
        refused = counts["blocked"] or counts["partial"]
        return EXIT_BLOCKED if refused else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The summary line of `generate --batch --json`."""
        return {"summary": self.counts, "images": self.images, "requests": len(self.outcomes)}


def run_batch(
    studio: Studio,
    lines: Iterable[BatchLine],
    out_dir: Path,
    on_outcome: Callable[[RequestOutcome], None] | None = None,
) -> BatchSummary:
    """Run every line in order; unreadable lines are failed outcomes with their line numbers."""
    summary = BatchSummary()
    for line in lines:
        if line.request is None:
            outcome = RequestOutcome(
                line.request_id, "failed", error=line.error, line_no=line.line_no
            )
        else:
            outcome = run_request(studio, line.request, out_dir)
            outcome = RequestOutcome(
                outcome.request_id,
                outcome.outcome,
                outcome.result,
                outcome.verdict,
                outcome.error,
                line.line_no,
            )
        summary.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return summary
