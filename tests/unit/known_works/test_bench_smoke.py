"""benchmarks/bench_policies.py runs end to end at toy sizes (the real run is 1M rows)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_policies.py"


def test_bench_policies_runs_and_reports_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_policies", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--size", "3000", "--dim", "32", "--batch", "16", "--names", "50",
            "--registry", "300", "--repeat", "2", "--nprobe", "4", "--json"]  # fmt: skip
    assert bench.main(args) == 0
    sections = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {s["section"]: s for s in sections}
    assert list(by_name) == ["prompt", "embeddings", "hashes", "build"]
    assert by_name["hashes"]["planted_found"] == 1.0
    assert by_name["embeddings"]["partitioned_recall_at_1"] >= 0.9
    assert by_name["build"]["hash_variants"] == 300 * 35
