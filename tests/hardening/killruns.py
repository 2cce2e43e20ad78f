"""Crash safety: `provenant generate --batch` killed with SIGKILL, then resumed.

A scenario writes a batch (a few requests of two images each, and one the prompt screen
refuses), starts `provenant generate --batch` with the tiny GAN, and kills it at a random
point: after a random time, or just after the n-th request finished.  Right after the kill
the output dir may hold partial files of interrupted commits, but never a signed file the
ledger does not know.  The batch is then run again to the end; afterwards `reconcile`
finds nothing (no file without a row, no row without a file, no partial file), every
request has exactly its images (or its one refusal), and the chain verifies.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.hardening.studio_home import (
    BLOCKED_PROMPT,
    make_home,
    process_env,
    provenant_command,
    settings_for,
)

IMAGES_PER_REQUEST = 2


@dataclass
class Run:
    """One `generate` process: its output lines and how it ended."""

    lines: list[str] = field(default_factory=list)
    killed: bool = False
    returncode: int | None = None
    seconds: float = 0.0
    stderr: str = ""


@dataclass
class Scenario:
    """One kill-and-resume scenario and what the checks found."""

    name: str
    mode: str
    killed: bool
    kill_after_s: float
    problems_after_kill: list[str]
    problems_after_resume: list[str]
    resume_seconds: float
    images_before_resume: int = 0
    partials_before_resume: int = 0

    @property
    def survived(self) -> bool:
        return not self.problems_after_kill and not self.problems_after_resume


def make_studio(root: Path, gan_model: Path) -> Path:
    """A data dir for kill runs: tiny GAN as the default generator, lexical prompt screen."""
    return make_home(root / "home", gan_model=gan_model)


def write_batch(path: Path, prefix: str, requests: int) -> dict[str, int]:
    """A batch of `requests` two-image requests and one refused request; id -> images."""
    expected: dict[str, int] = {}
    lines = []
    for j in range(requests):
        rid = f"{prefix}-r{j}"
        lines.append(
            {
                "id": rid,
                "prompt": f"a lighthouse, study {j}",
                "seed": 100 + j,
                "n": IMAGES_PER_REQUEST,
            }
        )
        expected[rid] = IMAGES_PER_REQUEST
    blocked = f"{prefix}-blocked"
    lines.insert(requests // 2, {"id": blocked, "prompt": BLOCKED_PROMPT, "seed": 1})
    expected[blocked] = 0
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return expected


def run_generate(
    home: Path, batch: Path, out: Path, *, kill: Any = None, timeout: float = 300
) -> Run:
    """Run `provenant generate --batch` to the end, or until `kill(run, started)` says so."""
    command = [*provenant_command(), "generate", "--batch", str(batch), "--out", str(out), "--json"]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=home.parent,
        env=process_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Run()
    stderr: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, run.lines), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    while process.poll() is None:
        if kill is not None and kill(run, started):
            process.send_signal(signal.SIGKILL)
            run.killed = True
            break
        if time.monotonic() - started > timeout:
            process.kill()
            raise TimeoutError(f"generate still running after {timeout}s")
        time.sleep(0.01)
    run.returncode = process.wait(timeout=30)
    for reader in readers:
        reader.join(timeout=10)
    run.seconds = time.monotonic() - started
    run.stderr = "".join(stderr)
    return run


def _pump(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


def killer(rng: random.Random, typical_seconds: float, requests: int) -> tuple[str, float, Any]:
    """A random kill point: after a time, or shortly after the n-th request's outcome."""
    if rng.random() < 0.5:
        delay = rng.uniform(0.3, typical_seconds)
        return "time", delay, lambda run, started: time.monotonic() - started >= delay
    after = rng.randrange(requests + 1)
    extra = rng.uniform(0.0, 0.8)
    seen: dict[str, float] = {}

    def kill(run: Run, started: float) -> bool:
        if len(run.lines) >= after and "at" not in seen:
            seen["at"] = time.monotonic()
        return "at" in seen and time.monotonic() - seen["at"] >= extra

    return f"after-{after}-outcomes", extra, kill


def check(home: Path, out: Path, expected: dict[str, int], *, resumed: bool) -> list[str]:
    """What is wrong with `out` and the ledger (empty: nothing).

    Before a resume, interrupted commits may show as partial files whose rows exist (the
    final name missing); nothing else may be off.  After it, nothing at all.
    """
    from provenance.audit.reconcile import reconcile
    from provenance.ledger import Ledger

    ledger = Ledger.from_settings(settings_for(home))
    problems: list[str] = []
    try:
        chain = ledger.verify_chain()
        if not chain.ok:
            problems.append(f"chain: {chain.describe()}")
        if out.is_dir():
            report = reconcile(ledger, out)
            problems += _findings(report.findings, resumed)
        for rid, images in expected.items():
            problems += _request_problems(ledger, out, rid, images, resumed)
    finally:
        ledger.close()
    return problems


def _findings(findings: list[Any], resumed: bool) -> list[str]:
    if resumed:
        return [f"{f.status}: {f.path} ({f.detail})" for f in findings]
    partial_targets = {
        str(Path(f.path).with_name(Path(f.path).name[1 : -len(".partial")]))
        for f in findings
        if f.status == "partial"
    }
    return [
        f"{f.status}: {f.path} ({f.detail})"
        for f in findings
        if f.status != "partial" and not (f.status == "missing" and f.path in partial_targets)
    ]


def _request_problems(ledger: Any, out: Path, rid: str, images: int, resumed: bool) -> list[str]:
    assets = ledger.assets_for_request(rid)
    indices = sorted(e.record.image_index for e in assets)
    refusal = ledger.refusal_for_request(rid)
    if len(set(indices)) != len(indices):
        return [f"{rid}: image recorded twice: {indices}"]
    if images == 0:
        if assets:
            return [f"{rid}: refused request has images"]
        return [] if (refusal is not None or not resumed) else [f"{rid}: refusal not recorded"]
    if refusal is not None:
        return [f"{rid}: allowed request has a refusal"]
    if resumed and indices != list(range(images)):
        return [f"{rid}: images {indices}, expected {list(range(images))}"]
    return []


def scenario(
    home: Path, root: Path, name: str, rng: random.Random, typical_seconds: float, requests: int = 3
) -> Scenario:
    """Kill one batch run at a random point, check, resume it to the end, check again."""
    batch, out = root / f"{name}.jsonl", root / f"{name}-out"
    expected = write_batch(batch, name, requests)
    mode, after, kill = killer(rng, typical_seconds, requests)
    killed = run_generate(home, batch, out, kill=kill)
    after_kill = check(home, out, expected, resumed=False)
    images = len(list(out.glob("*.png"))) if out.is_dir() else 0
    partials = len(list(out.glob(".*.partial"))) if out.is_dir() else 0
    resumed = run_generate(home, batch, out)
    after_resume = check(home, out, expected, resumed=True)
    if resumed.returncode not in (0, 3):  # 3: the refused request
        after_resume.append(f"resume exited {resumed.returncode}: {resumed.stderr[-400:]}")
    outcomes = [json.loads(line) for line in resumed.lines if line.startswith("{")]
    failed = [o for o in outcomes if o.get("outcome") == "failed"]
    if failed:
        after_resume.append(f"resume had failed requests: {failed}")
    return Scenario(
        name,
        mode,
        killed.killed,
        after,
        after_kill,
        after_resume,
        resumed.seconds,
        images,
        partials,
    )


def calibrate(home: Path, root: Path, requests: int = 3) -> tuple[float, list[str]]:
    """One uninterrupted batch: how long a whole run takes, and what the checks say after it."""
    batch, out = root / "calibration.jsonl", root / "calibration-out"
    expected = write_batch(batch, "cal", requests)
    run = run_generate(home, batch, out)
    problems = check(home, out, expected, resumed=True)
    if run.returncode != 3:  # the refused request
        problems.append(f"exit {run.returncode}: {run.stderr[-400:]}")
    return run.seconds, problems


def summarise(scenarios: list[Scenario]) -> dict[str, Any]:
    """Counts for the robustness report."""
    killed = [s for s in scenarios if s.killed]
    return {
        "runs": len(scenarios),
        "killed": len(killed),
        "survived": sum(1 for s in killed if s.survived),
        "killed_mid_batch": sum(1 for s in killed if s.images_before_resume),
        "left_partial_files": sum(1 for s in killed if s.partials_before_resume),
        "problems": [p for s in scenarios for p in s.problems_after_kill + s.problems_after_resume][
            :20
        ],
    }
