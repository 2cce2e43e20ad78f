"""Signed human edits and lineage: `sign --parent` against plain `sign`; `audit lineage` speed.

    python benchmarks/bench_lineage.py                      # SQLite and PostgreSQL, printed
    python benchmarks/bench_lineage.py --engines sqlite     # SQLite only
    python benchmarks/bench_lineage.py --record             # also writes results/bench_lineage.json

Per engine, a fresh studio (dev CA, migrated ledger) runs the real 5-step chain of
`provenance.demo.collaboration` (signed sketch, style transfer on the tiny random-weight
network, signed retouch, render, retouch).  Then, side by side and interleaved:

* `sign`: the same edited file (no credentials of its own) signed plainly as an import
  (`sign_external`, what `provenant sign FILE --generator --model` runs) and as an edit of
  the last render (`sign_human_work`, what `sign FILE --parent RENDER --editor` runs); both
  with policies, signing and the ledger commit, in process (no CLI start-up);
* the same two as `provenant sign` commands (a process each, start-up and policy loading
  included: what a user waits for), `--cli-runs` times each;
* `audit lineage`: finding the last file's asset by its bytes and walking its 5-step lineage
  (`lineage_of`, what the command runs: one read snapshot), in process.

Targets (issue 14): `sign --parent` <= 1.3x plain `sign`; `audit lineage` <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

RESULTS = Path(__file__).resolve().parent / "results" / "bench_lineage.json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _studio_settings(root: Path, database_url: str | None) -> Any:
    from provenance.config import Settings
    from provenance.pipeline.initialise import initialise

    env = {"PROVENANT_DATABASE_URL": database_url} if database_url else {}
    settings = Settings.load(home=root / "home", env=env)
    initialise(settings, root / "home" / "provenant.toml")
    return Settings.load(home=root / "home", env=env)


def _cli_seconds(home: Path, database_url: str | None, args: list[str]) -> float:
    import subprocess

    env = {**os.environ, "PROVENANT_HOME": str(home)}
    if database_url:
        env["PROVENANT_DATABASE_URL"] = database_url
    start = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("provenant")), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"provenant {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return seconds


def bench_engine(
    engine: str, database_url: str | None, runs: int, walks: int, size: int, cli_runs: int
) -> dict[str, Any]:
    """One engine's figures (see the module docstring)."""
    from provenance.credentials.lineage import lineage_of
    from provenance.demo.collaboration import retouch, run_chain
    from provenance.generators.tiny import make_tiny_models
    from provenance.pipeline.edits import EditRequest, sign_human_work
    from provenance.pipeline.external import ImportSpec, sign_external
    from provenance.pipeline.studio import Studio

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = make_tiny_models(root / "models")
        style = root / "style.png"
        retouch(
            Path(__file__).parent / ".." / "provenance" / "demo_assets" / "coffee.jpg", style, 0
        )
        with Studio(_studio_settings(root, database_url)) as studio:
            chain = run_chain(
                studio, root / "chain", model=str(models.adain), style=style, size=size
            )
            render = chain.files[3]
            edited = retouch(render, root / "edited.png", 9)
            edited_bytes = edited.stat().st_size
            import_spec = ImportSpec("othertool", "other-model")
            edit_spec = EditRequest("Ana Lima", ("c2pa.drawing",), "Krita 5.2")
            plain, parent = [], []
            for n in range(runs + 1):  # the first pair warms both paths up, not counted
                plain_out, edit_out = root / f"p{n}", root / f"e{n}"
                a = _timed(lambda: sign_external(studio, edited, import_spec, plain_out))  # noqa: B023
                b = _timed(lambda: sign_human_work(studio, edited, render, edit_spec, edit_out))  # noqa: B023
                if n:
                    plain.append(a)
                    parent.append(b)
            cli_plain, cli_parent = [], []
            for n in range(cli_runs):
                home, base = root / "home", ["sign", str(edited)]
                plain_args = [*base, "--generator", "othertool", "--model", "m"]
                edit_args = [*base, "--parent", str(render), "--editor", "Ana Lima"]
                cli_plain.append(
                    _cli_seconds(home, database_url, [*plain_args, "--out", str(root / f"cp{n}")])
                )
                cli_parent.append(
                    _cli_seconds(home, database_url, [*edit_args, "--out", str(root / f"ce{n}")])
                )
            last = chain.files[-1]
            ledger = studio.ledger
            steps = len(lineage_of(ledger, last).steps)
            lineage = [_timed(lambda: lineage_of(ledger, last))
                       for _ in range(walks)]  # fmt: skip
    return {
        "engine": engine,
        "image_size": [size, size],
        "edited_file_bytes": edited_bytes,
        "sign_runs": runs,
        "sign_plain_median_ms": _median_ms(plain),
        "sign_parent_median_ms": _median_ms(parent),
        "sign_parent_ratio": round(statistics.median(parent) / statistics.median(plain), 3),
        "cli_runs": cli_runs,
        "cli_sign_plain_median_ms": _median_ms(cli_plain) if cli_plain else None,
        "cli_sign_parent_median_ms": _median_ms(cli_parent) if cli_parent else None,
        "cli_sign_parent_ratio": (
            round(statistics.median(cli_parent) / statistics.median(cli_plain), 3)
            if cli_plain
            else None
        ),
        "lineage_chain_steps": chain.kinds,
        "lineage_tree_nodes": steps,
        "lineage_walks": walks,
        "lineage_median_ms": _median_ms(lineage),
        "lineage_p95_ms": _p95_ms(lineage),
    }


def _postgres_database(server_url: str) -> tuple[str, Callable[[], None]]:
    from provenance.ledger.db import normalise_url

    server = normalise_url(server_url)
    name = f"provenant_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--walks", type=int, default=50)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", type=int, default=[96, 768])
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for engine in args.engines:
        for size in args.sizes:
            if engine == "sqlite":
                results.append(
                    bench_engine("sqlite", None, args.runs, args.walks, size, args.cli_runs)
                )
                continue
            url, drop = _postgres_database(args.postgres_url)
            try:
                results.append(
                    bench_engine("postgresql", url, args.runs, args.walks, size, args.cli_runs)
                )
            finally:
                drop()
    for r in results:
        print(
            f"{r['engine']:>10} {r['image_size'][0]}px: "
            f"sign plain {r['sign_plain_median_ms']} ms, sign --parent "
            f"{r['sign_parent_median_ms']} ms ({r['sign_parent_ratio']}x, target <= 1.3x); "
            f"audit lineage of 5 steps {r['lineage_median_ms']} ms median, "
            f"{r['lineage_p95_ms']} ms p95 (target <= 50 ms); as commands: "
            f"{r['cli_sign_plain_median_ms']} vs {r['cli_sign_parent_median_ms']} ms "
            f"({r['cli_sign_parent_ratio']}x)"
        )
    if args.record:
        document = {
            "benchmark": "bench_lineage",
            "recorded_at": datetime.now(UTC).isoformat(),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            },
            "results": results,
        }
        RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"recorded {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
