"""`provenant screen` as users run it, this version beside a previous one, in one run.

    python benchmarks/bench_policies.py --sections screen                 # previous = main
    python benchmarks/bench_policies.py --sections screen --previous v0.3 --record

Measured for each version (the previous one is exported with `git archive` into a temporary
directory and run from there with the same interpreter and packages):

* one prompt: `provenant screen --prompt "a lighthouse at dawn"` on a fresh `init` data dir,
  wall time and peak RSS of the process (first run, and the median of the next ones);
* per prompt, every prompt_safety layer on (lexical, fuzzy, encoder, head or concepts):
  p50 and p95 of `screen_prompt` in one process after a warm-up;
* `screen --prompt-file` on 1,000 prompts (the generated dev split, benign and unsafe):
  wall time, prompts per second, peak RSS.

Targets: one prompt <= 1.5 s and <= 500 MB; per-prompt p95 <= 50 ms.  Figures depend on how
busy the machine is, so the 1-minute load average is recorded before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "data" / "prompt_corpus" / "corpus.jsonl"
ONE_PROMPT = "a lighthouse at dawn"

#: Runs one command and prints its wall time and the child's peak RSS (the only child).
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(rss, 1), "rc": done.returncode,
                  "stderr": done.stderr.decode(errors="replace")[-400:]}))
"""

#: Per-prompt latency of prompt_safety with its default layers, in one process.
_LATENCY = """
import json, statistics, sys, tempfile, time
from pathlib import Path
from provenance.policies.prompt_safety import PromptSafetyPolicy
from provenance.config import Settings
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest
prompts = [json.loads(l)["prompt"] for l in open(sys.argv[1], encoding="utf-8")]
settings = Settings.load(home=Path(tempfile.mkdtemp()), env={})
policy = PromptSafetyPolicy({}, PolicyContext(settings=settings))
policy.screen_prompt(GenerationRequest(prompt="warm up the encoder", generator="bench"))
times = []
for p in prompts:
    start = time.perf_counter()
    policy.screen_prompt(GenerationRequest(prompt=p, generator="bench"))
    times.append((time.perf_counter() - start) * 1000)
times.sort()
print(json.dumps({"encoder": policy.plan.kind, "n": len(times),
                  "p50_ms": round(statistics.median(times), 2),
                  "p95_ms": round(times[int(len(times) * 0.95) - 1], 2)}))
"""


def _cli(tree: Path) -> list[str]:
    return [sys.executable, "-c", "import sys; from provenance.cli import main; main()"]


def _env(tree: Path) -> dict[str, str]:
    """The child imports `tree` only: it runs there (`-c` puts the cwd first on sys.path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env.update({"PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return env


def _measure(tree: Path, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *_cli(tree), *args],
        capture_output=True, text=True, env=_env(tree), cwd=tree, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def export_tree(ref: str, into: Path) -> Path:
    """The files of git `ref` in a fresh directory (nothing of the checkout is touched)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        capture_output=True, check=True,
    )  # fmt: skip
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _prompt_file(into: Path, n: int) -> Path:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    dev = [r for r in rows if r["split"] == "dev"]
    picked = (dev * (n // max(len(dev), 1) + 1))[:n]
    path = into / f"prompts-{n}.jsonl"
    path.write_text("".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in picked))
    return path


def bench_version(tree: Path, work: Path, repeat: int, file_prompts: int) -> dict[str, Any]:
    """Every figure for the code in `tree`."""
    home = work / "home"
    subprocess.run(
        [*_cli(tree), "--home", str(home), "init"],
        capture_output=True, env=_env(tree), cwd=tree, check=True,
    )  # fmt: skip
    one = [_measure(tree, ["--home", str(home), "screen", "--prompt", ONE_PROMPT])]
    one += [
        _measure(tree, ["--home", str(home), "screen", "--prompt", ONE_PROMPT])
        for _ in range(repeat)
    ]
    latency_file = _prompt_file(work, 200)
    latency = subprocess.run(
        [sys.executable, "-c", _LATENCY, str(latency_file)],
        capture_output=True, text=True, env=_env(tree), cwd=tree, check=True,
    )  # fmt: skip
    many = _prompt_file(work, file_prompts)
    batch = _measure(tree, ["--home", str(home), "screen", "--prompt-file", str(many), "--json"])
    return {
        "one_prompt_first": {k: one[0][k] for k in ("wall_s", "peak_rss_mb", "rc")},
        "one_prompt_wall_s_median": statistics.median(r["wall_s"] for r in one[1:]),
        "one_prompt_peak_rss_mb": max(r["peak_rss_mb"] for r in one),
        "per_prompt": json.loads(latency.stdout.strip().splitlines()[-1]),
        "prompt_file": {
            "prompts": file_prompts,
            "wall_s": batch["wall_s"],
            "prompts_per_s": round(file_prompts / batch["wall_s"], 1),
            "peak_rss_mb": batch["peak_rss_mb"],
            "rc": batch["rc"],
        },
    }


def bench_screen(previous: str | None, repeat: int = 3, file_prompts: int = 1000) -> dict[str, Any]:
    """The `screen` section: previous version (if any) and this one."""
    work = Path(tempfile.mkdtemp(prefix="provenant-bench-screen-"))
    out: dict[str, Any] = {"section": "screen", "load_average_1m_before": os.getloadavg()[0]}
    try:
        if previous:
            tree = export_tree(previous, work / "previous-tree")
            out[f"previous ({previous})"] = bench_version(
                tree, work / "previous", repeat, file_prompts
            )
        out["new"] = bench_version(ROOT, work / "new", repeat, file_prompts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["load_average_1m_after"] = os.getloadavg()[0]
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out


def print_side_by_side(section: dict[str, Any]) -> None:
    """previous | new, one figure a line."""
    versions = [k for k in section if k == "new" or k.startswith("previous")]
    rows = [
        ("one prompt, first run (s)", lambda v: v["one_prompt_first"]["wall_s"]),
        ("one prompt, median (s)", lambda v: v["one_prompt_wall_s_median"]),
        ("one prompt, peak RSS (MB)", lambda v: v["one_prompt_peak_rss_mb"]),
        ("per prompt p50 (ms)", lambda v: v["per_prompt"]["p50_ms"]),
        ("per prompt p95 (ms)", lambda v: v["per_prompt"]["p95_ms"]),
        ("encoder", lambda v: v["per_prompt"]["encoder"]),
        ("prompt file wall (s)", lambda v: v["prompt_file"]["wall_s"]),
        ("prompt file prompts/s", lambda v: v["prompt_file"]["prompts_per_s"]),
        ("prompt file peak RSS (MB)", lambda v: v["prompt_file"]["peak_rss_mb"]),
    ]
    print(f"\n== screen (load average {section['load_average_1m_before']:.1f} before, "
          f"{section['load_average_1m_after']:.1f} after)")  # fmt: skip
    print(f"  {'':28}" + "".join(f"{v:>22}" for v in versions))
    for label, get in rows:
        print(f"  {label:28}" + "".join(f"{get(section[v])!s:>22}" for v in versions))


if __name__ == "__main__":
    ref = sys.argv[1] if len(sys.argv) > 1 else "main"
    print_side_by_side(bench_screen(ref))
