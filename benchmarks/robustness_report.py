"""Robustness, counted: hostile inputs, tamper cases, ledger edits, kill runs, concurrency.

    python benchmarks/robustness_report.py                 # the full runs (about 30 min, 2 cores)
    python benchmarks/robustness_report.py --quick         # the slices the normal test run uses
    python benchmarks/robustness_report.py --record        # also write results/robustness.json
    python benchmarks/robustness_report.py --only manifest_internals --record   # one part

It runs exactly the harness the hardening tests assert on (`tests/hardening/*`), so the
figures printed here are what those tests hold to: the hostile corpus through `verify`,
`screen --image`, `works add` and `sign` (in-process and through the CLI) in worker
processes with a per-check time limit; damage aimed inside the manifest store (signature,
every certificate field, claim, assertions) through `verify` in-process, in two workers and
through the console script, one report per file; every tamper attack per format through `verify`;
single edits, deletions, insertions and reorderings of a 1,000-entry ledger through
`verify_chain`; `generate --batch` killed with SIGKILL at random points and resumed; and
several `generate` processes writing into one ledger.  PostgreSQL parts run when
`PROVENANT_TEST_POSTGRES_URL` (or `PROVENANT_DATABASE_URL`) names a reachable server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
LEDGER_ENTRIES = 1_000


def hostile_files(scratch: Path, quick: bool) -> dict[str, Any]:
    from tests.hardening import hostile

    run = hostile.prepare(scratch, total=10_000, stride=30 if quick else 1)
    tasks = hostile.tasks_for(run, cli_files=20 if quick else 150)
    stats, seconds = hostile.run_checks(run, tasks)
    return hostile.summary(run, tasks, stats, seconds)


def manifest_internals(scratch: Path, quick: bool) -> dict[str, Any]:
    from tests.hardening import internals
    from tests.hardening.seeds import SigningKit

    kit = SigningKit.create(scratch / "kit")
    try:
        return internals.run_internals(kit, scratch, stride=12 if quick else 1)
    finally:
        kit.close()


def tamper_cases(scratch: Path) -> dict[str, Any]:
    from tests.hardening import tamper
    from tests.hardening.seeds import SigningKit

    kit = SigningKit.create(scratch / "kit")
    try:
        cases = tamper.build_cases(kit, scratch / "inputs")
        return tamper.measure(kit, cases, scratch / "checked").as_dict()
    finally:
        kit.close()


def ledger_edits(url: str, quick: bool) -> dict[str, Any]:
    from tests.hardening import ledger_edits as L

    ledger = L.build(url, LEDGER_ENTRIES)
    raw = L.Raw(url)
    try:
        return L.sweep(ledger, raw, rows_per_column=1 if quick else 12).as_dict()
    finally:
        raw.close()
        ledger.close()


def kill_runs(scratch: Path, gan: Path, quick: bool) -> dict[str, Any]:
    from tests.hardening import killruns

    home = killruns.make_studio(scratch, gan)
    typical, problems = killruns.calibrate(home, scratch)
    if problems:
        return {"calibration_problems": problems}
    rng, scenarios, kills = random.Random(2026), [], 3 if quick else 20
    while sum(s.killed for s in scenarios) < kills and len(scenarios) < 2 * kills:
        scenarios.append(killruns.scenario(home, scratch, f"r{len(scenarios)}", rng, typical))
    return killruns.summarise(scenarios)


def concurrency(
    scratch: Path, gan: Path, database_url: str | None, processes: int
) -> dict[str, Any]:
    from tests.hardening.concurrent import run_concurrently
    from tests.hardening.studio_home import make_home

    home = make_home(scratch / "home", gan_model=gan, database_url=database_url)
    return run_concurrently(home, scratch, processes).as_dict()


@contextmanager
def postgres_database(server: str | None) -> Iterator[str | None]:
    """A fresh database on the server (dropped afterwards), or None without one."""
    if not server:
        yield None
        return
    import sqlalchemy as sa

    name = f"provenant_r_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL not reachable, its parts are skipped: {str(exc).splitlines()[0]}")
        admin.dispose()
        yield None
        return
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _timed(label: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"-- {label} ...", flush=True)
    start = time.perf_counter()
    result = work()
    result.setdefault("seconds", round(time.perf_counter() - start, 1))
    return result


def _ratio(done: int, total: int) -> str:
    return f"{done}/{total} ({100.0 * done / total:.1f}%)" if total else "0/0"


def print_summary(results: dict[str, Any]) -> None:
    print()
    if "hostile_files" in results:
        h = results["hostile_files"]
        runs = f"{h['check_runs']} command runs, {h['cli_invocations']} through the CLI)"
        print("hostile inputs tried        ", h["inputs"], f"({len(h['families'])} families,", runs)
        print("  crashes / hangs           ", h["crashes"], "/", h["hangs"])
        print("  peak worker memory        ", h["peak_worker_rss_mib"], "MiB")
    if "manifest_internals" in results:
        m = results["manifest_internals"]
        runs = [m["in_process"], m["workers_2"], m["cli"]]
        print("manifest-internal damage    ", m["inputs"], f"files ({len(m['regions'])} regions),",
              "reports:", "/".join(str(r["reports"]) for r in runs),
              "(in-process/workers/CLI), errors:",
              len(m["in_process"]["errors"]) + len(m["workers_2"]["errors"]),
              "traceback:", m["cli"]["traceback"])  # fmt: skip
    if "tamper" not in results:
        return
    t = results["tamper"]
    print("tamper cases detected       ", _ratio(t["detected"], t["cases"]))
    for name, ledger in results["ledger_edits"].items():
        label = f"ledger edits detected ({name})".ljust(28)
        print(label, _ratio(ledger["detected"], ledger["edits"]), "named:", ledger["named"])
    k = results["kill_runs"]
    if "killed" in k:
        print("kill runs survived          ", _ratio(k["survived"], k["killed"]),
              f"({k['killed_mid_batch']} mid-batch)")  # fmt: skip
    else:
        print("kill runs                    calibration failed:", k)
    for name, run in results["concurrency"].items():
        ok = run["chain_ok"] and not run["failed_lines"] and not run["reconcile_findings"]
        print(f"concurrent writers ({name})".ljust(28), f"{run['processes']} processes,",
              f"{run['assets']} assets, chain {'intact' if ok else 'BROKEN'}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the normal test run's slices")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument(
        "--only",
        choices=["manifest_internals"],
        help="run one part; --record then updates that part of the recorded results",
    )
    args = parser.parse_args(argv)
    if args.only:
        return _only(args.only, args.quick, args.record)

    from provenance.generators.tiny import make_tiny_models

    server = os.environ.get("PROVENANT_TEST_POSTGRES_URL") or os.environ.get(
        "PROVENANT_DATABASE_URL"
    )
    processes = 3 if args.quick else 8
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full"}
    with tempfile.TemporaryDirectory(prefix="provenant-robustness-") as tmp:
        scratch = Path(tmp)
        gan = Path(make_tiny_models(scratch / "models").gan)
        results["hostile_files"] = _timed(
            "hostile files", lambda: hostile_files(scratch / "hostile", args.quick)
        )
        results["manifest_internals"] = _timed(
            "manifest-internal damage",
            lambda: manifest_internals(scratch / "internals", args.quick),
        )
        results["tamper"] = _timed("tamper cases", lambda: tamper_cases(scratch / "tamper"))
        results["ledger_edits"] = {
            "sqlite": _timed(
                "ledger edits (SQLite)",
                lambda: ledger_edits(f"sqlite:///{scratch / 'ledger.db'}", args.quick),
            )
        }
        results["kill_runs"] = _timed(
            "kill runs", lambda: kill_runs(scratch / "kills", gan, args.quick)
        )
        results["concurrency"] = {
            "sqlite": _timed(
                "concurrency (SQLite)",
                lambda: concurrency(scratch / "conc-sqlite", gan, None, processes),
            )
        }
        with postgres_database(server) as url:
            if url is not None:
                results["ledger_edits"]["postgresql"] = _timed(
                    "ledger edits (PostgreSQL)", lambda: ledger_edits(url, True)
                )
        with postgres_database(server) as url:
            if url is not None:
                results["concurrency"]["postgresql"] = _timed(
                    "concurrency (PostgreSQL)",
                    lambda: concurrency(scratch / "conc-pg", gan, url, processes),
                )
    print_summary(results)
    if args.record:
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nrecorded in {RESULTS.relative_to(ROOT)}")
    return 0


def _only(part: str, quick: bool, record: bool) -> int:
    """Run one part and, with `record`, replace just that part of the recorded results."""
    with tempfile.TemporaryDirectory(prefix="provenant-robustness-") as tmp:
        scratch = Path(tmp)
        result = _timed(part, lambda: manifest_internals(scratch / "internals", quick))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[part] = {**result, "mode": "quick" if quick else "full"}
    print_summary({part: result})
    if record:
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nrecorded in {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
