"""Ledger append throughput: SQLite and PostgreSQL, 1 and 8 writers, append vs append_many.

    python benchmarks/bench_ledger.py                        # both engines, printed table
    python benchmarks/bench_ledger.py --engines sqlite       # SQLite only
    python benchmarks/bench_ledger.py --postgres-url URL     # another PostgreSQL server
    python benchmarks/bench_ledger.py --record               # also writes results/bench_ledger.json

Every run starts from a fresh, migrated database.  Writers are *threads* sharing one `Ledger`
(one engine and its pool) or *processes* (multiprocessing, spawn) each with its own.  Each
record is a full sample asset (model card, params, two policy decisions, an attribution and
an ingredient: five rows).  `append` is one transaction per record (one head lock, one
commit each); `append_many` takes the head lock and commits once per batch.  After every run
the chain is verified, and its verification speed is measured too.

`bench_appends(url, writers=..., per_writer=..., mode=..., batch=...)` returns a dict, so
`bench_provenance.py` can import and reuse it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from provenance.ledger import Ledger
from provenance.ledger.db import normalise_url
from tests.integration.ledger.samples import write_samples

RESULTS = Path(__file__).resolve().parent / "results" / "bench_ledger.json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_database(engine: str, postgres_url: str = DEFAULT_PG) -> Iterator[str]:
    """A new, migrated, empty ledger database; removed afterwards."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            Ledger.from_url(url).upgrade()
            yield url
        return
    server = normalise_url(postgres_url)
    name = f"provenant_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        Ledger.from_url(url).upgrade()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run_threads(url: str, writers: int, per_writer: int, batch: int) -> float:
    """Seconds for `writers` threads sharing one `Ledger` (one connection each) to append."""
    ledger = Ledger.from_url(url, pool_size=writers)
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(lambda w: write_samples(ledger, w, per_writer, batch), range(writers)))
        return time.perf_counter() - start
    finally:
        ledger.close()


def _run_processes(url: str, writers: int, per_writer: int, batch: int) -> float:
    """Seconds for `writers` spawned processes to append (process start-up not counted)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        pool.starmap(write_samples, [(url, w, 0, 1) for w in range(writers)])  # warm imports
        start = time.perf_counter()
        pool.starmap(write_samples, [(url, w, per_writer, batch) for w in range(writers)])
        return time.perf_counter() - start


def bench_appends(
    url: str, *, writers: int = 1, per_writer: int = 500, mode: str = "threads", batch: int = 1
) -> dict[str, Any]:
    """Append `writers * per_writer` sample assets to the (empty) ledger at `url`; time it."""
    runner = _run_processes if mode == "processes" else _run_threads
    elapsed = runner(url, writers, per_writer, batch)
    total = writers * per_writer
    ledger = Ledger.from_url(url)
    try:
        verify_start = time.perf_counter()
        report = ledger.verify_chain()
        verify_s = time.perf_counter() - verify_start
    finally:
        ledger.close()
    if not report.ok or report.count != total:
        raise SystemExit(f"benchmark produced a bad chain: {report.describe()}")
    return {
        "writers": writers,
        "mode": mode,
        "method": "append" if batch == 1 else f"append_many({batch})",
        "entries": total,
        "seconds": round(elapsed, 3),
        "appends_per_s": round(total / elapsed, 1),
        "verify_entries_per_s": round(total / verify_s, 1),
    }


SCENARIOS: list[dict[str, Any]] = [
    {"writers": 1, "mode": "threads", "batch": 1},
    {"writers": 8, "mode": "threads", "batch": 1},
    {"writers": 8, "mode": "processes", "batch": 1},
    {"writers": 1, "mode": "threads", "batch": 100},
    {"writers": 8, "mode": "threads", "batch": 25},
    {"writers": 8, "mode": "processes", "batch": 25},
]


def run(engines: list[str], per_writer: int, postgres_url: str) -> list[dict[str, Any]]:
    """Every scenario on every engine, each on a fresh database."""
    rows = []
    for engine in engines:
        for scenario in SCENARIOS:
            per = per_writer * 8 // scenario["writers"]  # same total for 1 and 8 writers
            with fresh_database(engine, postgres_url) as url:
                result = bench_appends(url, per_writer=per, **scenario)
            rows.append({"engine": engine, **result})
            print(_format_row(rows[-1]), flush=True)
    return rows


def _format_row(row: dict[str, Any]) -> str:
    return (
        f"{row['engine']:<10} {row['writers']:>2} {row['mode']:<9} {row['method']:<17} "
        f"{row['entries']:>6} {row['appends_per_s']:>10.1f} {row['verify_entries_per_s']:>10.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: run, print a table, optionally record the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--per-writer", type=int, default=250, help="entries per writer (8 writers)"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args(argv)
    header = ("engine", "w", "mode", "method", "n", "appends/s", "verify/s")
    print("{:<10} {:>2} {:<9} {:<17} {:>6} {:>10} {:>10}".format(*header))
    rows = run(args.engines, args.per_writer, args.postgres_url)
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "benchmark": "bench_ledger",
            "recorded_at": datetime.now(UTC).isoformat(),
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": multiprocessing.cpu_count(),
            },
            "results": rows,
        }
        RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"recorded {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
