"""What every route shares: settings, the verifier, the ledger, templates, sessions, jobs.

One `ServeContext` per app (per uvicorn worker).  Verifiers are per thread: FastAPI runs
plain `def` routes on a thread pool, and a verifier holds a c2pa context and ledger
connections that are not meant to be shared between threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.templating import Jinja2Templates

from provenance.serve.sessions import LoginLimiter, Signer, load_secret
from provenance.serve.templating import template_environment

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.ledger import Ledger
    from provenance.pipeline.policyset import PolicySet
    from provenance.serve.jobs import JobRunner
    from provenance.verify.verifier import Verifier


@dataclass
class ServeContext:
    """Per-app state; routes reach it through `context(request)`."""

    settings: Settings
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)

    @cached_property
    def signer(self) -> Signer:
        """Signs session and CSRF cookies with the data dir's secret."""
        path = self.settings.serve.secret_file or self.settings.home / "serve-secret.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        return Signer(load_secret(path))

    @cached_property
    def templates(self) -> Jinja2Templates:
        """The pages' Jinja2 templates (autoescaping on)."""
        return Jinja2Templates(env=template_environment())

    @cached_property
    def jobs(self) -> JobRunner:
        """Generation jobs, their status kept as files in the data dir."""
        from provenance.serve.jobs import JobRunner

        return JobRunner(self.settings)

    @property
    def output_dir(self) -> Path:
        """Where images generated through the API are written (inside the data dir)."""
        return self.settings.home / "outputs"

    def verifier(self) -> Verifier:
        """This thread's verifier (trust anchors from the config, ledger cross-check on)."""
        found: Verifier | None = getattr(self._local, "verifier", None)
        if found is None:
            from provenance.verify.verifier import Verifier, default_ledger_check

            found = Verifier(self.settings, (), default_ledger_check(self.settings))
            self._local.verifier = found
        return found

    def policies(self) -> PolicySet:
        """This thread's enabled policies (the known-works registry read from the ledger)."""
        found: PolicySet | None = getattr(self._local, "policies", None)
        if found is None:
            from provenance.pipeline.policyset import PolicySet

            found = PolicySet.from_settings(self.settings, self.ledger())
            self._local.policies = found
        return found

    def ledger(self) -> Ledger:
        """The ledger, read-only, opened on first use (a missing ledger is a `LedgerError`)."""
        with self._lock:
            if self._ledger is None:
                from provenance.audit import open_ledger

                self._ledger = open_ledger(self.settings)
            return self._ledger

    def close(self) -> None:
        """Release the ledger and stop the job threads."""
        if self._ledger is not None:
            self._ledger.close()
        if "jobs" in self.__dict__:
            self.jobs.close()


def context(request: Request) -> ServeContext:
    """The app's `ServeContext` (a FastAPI dependency)."""
    found: ServeContext = request.app.state.context
    return found
