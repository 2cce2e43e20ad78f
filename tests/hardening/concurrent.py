"""Many `provenant generate` processes writing into one ledger (and one output dir) at once.

Each process runs its own batch (two one-image requests and one the prompt screen refuses),
all started together.  Afterwards every process has exited normally, every request is in
the ledger exactly once, the chain holds every entry, and the output dir reconciles.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hardening.studio_home import BLOCKED_PROMPT, process_env, provenant_command, settings_for

REQUESTS_PER_PROCESS = 2


@dataclass
class ConcurrentRun:
    """What the processes did and what the ledger and output dir look like afterwards."""

    processes: int
    exit_codes: list[int] = field(default_factory=list)
    failed_lines: list[str] = field(default_factory=list)
    assets: int = 0
    refusals: int = 0
    chain_entries: int = 0
    chain_ok: bool = False
    reconcile_findings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stderrs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "stderrs"}

    def explain(self) -> str:
        """Why a process did not exit as expected: its failed requests (stdout, one JSON line
        each in --json mode), then each process's whole stderr."""
        parts = [*self.failed_lines]
        parts += [f"process {n} stderr:\n{text}" for n, text in enumerate(self.stderrs) if text]
        return "\n".join(parts)


def write_batches(root: Path, processes: int) -> list[Path]:
    batches = []
    for p in range(processes):
        lines = [
            {"id": f"p{p}-r{j}", "prompt": f"harbour at dawn {p}/{j}", "seed": 10 * p + j}
            for j in range(REQUESTS_PER_PROCESS)
        ]
        lines.append({"id": f"p{p}-blocked", "prompt": BLOCKED_PROMPT, "seed": 1})
        path = root / f"p{p}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        batches.append(path)
    return batches


def run_concurrently(home: Path, root: Path, processes: int, timeout: float = 480) -> ConcurrentRun:
    """Start every process at once; wait for all (a deadlock shows as the timeout)."""
    out = root / "out"
    batches = write_batches(root, processes)
    result = ConcurrentRun(processes)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [*provenant_command(), "generate", "--batch", str(b), "--out", str(out), "--json"],
            cwd=root,
            env=process_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in batches
    ]
    for proc in procs:
        remaining = max(1.0, timeout - (time.monotonic() - started))
        try:
            stdout, stderr = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        result.exit_codes.append(proc.returncode)
        result.stderrs.append(stderr)
        for line in stdout.splitlines():
            if '"outcome": "failed"' in line:
                result.failed_lines.append(line[:1000])
    result.seconds = time.monotonic() - started
    _inspect(home, out, result)
    return result


def _inspect(home: Path, out: Path, result: ConcurrentRun) -> None:
    from provenance.audit.reconcile import reconcile
    from provenance.ledger import Ledger

    ledger = Ledger.from_settings(settings_for(home))
    try:
        for p in range(result.processes):
            for j in range(REQUESTS_PER_PROCESS):
                result.assets += len(ledger.assets_for_request(f"p{p}-r{j}"))
            result.refusals += ledger.refusal_for_request(f"p{p}-blocked") is not None
        chain = ledger.verify_chain()
        result.chain_ok, result.chain_entries = chain.ok, chain.count
        report = reconcile(ledger, out)
        result.reconcile_findings = [f"{f.status}: {f.path} ({f.detail})" for f in report.findings]
    finally:
        ledger.close()
