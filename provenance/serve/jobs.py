"""Generation jobs: `POST /api/generate` queues a request, `GET /api/jobs/{id}` polls it.

Requests run one at a time on a worker thread that owns one `Studio` (models load once and
stay loaded).  A job's status is a small JSON file in the data dir, written atomically, so
any uvicorn worker can answer a poll and a restart keeps finished jobs' results.  Job ids
are random hex, checked before they name a file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.pipeline.studio import Studio
    from provenance.types import GenerationRequest

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class JobRunner:
    """Queues requests on one worker thread and records each job's status as a file."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.folder = settings.home / "serve-jobs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="provenant-generate")
        self._studio: Studio | None = None
        self._lock = threading.Lock()

    def submit(self, request: GenerationRequest, owner: str, out_dir: Path) -> dict[str, Any]:
        """Queue `request`; returns the job's first status."""
        job = {
            "job_id": secrets.token_hex(16),
            "status": "queued",
            "owner": owner,
            "request_id": request.request_id,
            "created_at": _now(),
            "outcome": None,
        }
        self._write(job)
        self._executor.submit(self._run, job, request, out_dir)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's status, or None for an unknown (or malformed) id."""
        if not _JOB_ID.match(job_id):
            return None
        try:
            found: dict[str, Any] = json.loads((self.folder / f"{job_id}.json").read_text())
        except (OSError, ValueError):
            return None
        return found

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued job has run (tests, shutdown)."""
        self._executor.submit(lambda: None).result(timeout)

    def close(self) -> None:
        """Finish running jobs and close the studio."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._studio is not None:
            self._studio.close()

    def _run(self, job: dict[str, Any], request: GenerationRequest, out_dir: Path) -> None:
        from provenance.pipeline.batch import run_request

        self._write({**job, "status": "running", "started_at": _now()})
        try:
            outcome = run_request(self._studio_now(), request, out_dir)
            result = outcome.as_dict()
            status = "failed" if outcome.outcome == "failed" else "done"
        except Exception as exc:  # a job thread must record its failure, never vanish
            result = {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}"}
            status = "failed"
        for image in result.get("images", []):
            image["download_url"] = f"/api/assets/{image['asset_id']}/file"
            image.pop("path", None)  # server paths stay on the server
        self._write({**job, "status": status, "finished_at": _now(), "outcome": result})

    def _studio_now(self) -> Studio:
        if self._studio is None:
            from provenance.pipeline.studio import Studio

            self._studio = Studio(self._settings)
        return self._studio

    def _write(self, job: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".job-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(job, fh, default=str)
        os.replace(tmp, self.folder / f"{job['job_id']}.json")


def _now() -> str:
    return datetime.now(UTC).isoformat()
