"""Known-works evaluation on the frozen test splits, through the CLI exactly as a studio runs it.

    python benchmarks/eval_known_works.py            # prompts (test split) and photographs
    python benchmarks/eval_known_works.py --dev      # prompts from the development set instead
    python benchmarks/eval_known_works.py --record   # also writes benchmarks/results/...

Prompts: `provenant works import benchmarks/data/policy_test/works.jsonl`, then
`provenant screen --prompt-file works_prompts.jsonl --json` in a fresh data dir with the
default configuration.  A known-work prompt counts as caught when a `known_works` reason
names the expected work (a licensed work is allowed and credited, not blocked, so the reason
is what counts); a benign prompt is a false positive when any `known_works` reason names a
work.  Photographs: `works import photo_works.jsonl`, then `screen --image ... --json` on the
28 edited copies and 8 unrelated images of `benchmarks/data/photo_test`.

Both splits are checked against their SHA-256 sums first.  Only aggregate figures are
printed (per evasion type, per language group, per kind of edit), never the prompts, so the
test split stays unseen.  The test prompt split is scored at most three times in all; every
run with `--record` on it is counted in the results file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TEST = HERE / "data" / "policy_test"
PHOTOS = HERE / "data" / "photo_test"
DEV = HERE / "data" / "known_works_dev"
RESULTS = HERE / "results" / "eval_known_works.json"
POLICY = "known_works"


def check_sums(directory: Path, sums_file: str) -> None:
    """Refuse to score a split whose files differ from the recorded SHA-256 sums."""
    for line in (directory / sums_file).read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        actual = hashlib.sha256((directory / name.strip()).read_bytes()).hexdigest()
        if actual != digest:
            sys.exit(f"{directory / name}: SHA-256 differs from {sums_file}; refusing to score")


def provenant(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script in `home` (default config), failing loudly on an error."""
    env = {**os.environ, "PROVENANT_HOME": str(home)}
    env.pop("PROVENANT_DATABASE_URL", None)
    exe = Path(sys.executable).with_name("provenant")
    result = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, check=False, cwd=home
    )
    if result.returncode not in (0, 3):
        sys.exit(f"provenant {' '.join(args)} exited {result.returncode}: {result.stderr[-600:]}")
    return result


def fresh_home(works_file: Path) -> Path:
    """A new data dir with `works_file` imported."""
    home = Path(tempfile.mkdtemp(prefix="provenant-kw-eval-"))
    provenant(home, "init", "--json")
    provenant(home, "works", "import", str(works_file), "--json")
    return home


def verdict_lines(stdout: str) -> list[dict[str, Any]]:
    """The JSON objects `screen --json` printed, in order."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def named_works(verdict: dict[str, Any]) -> set[str]:
    """Work ids that `known_works` reasons of a verdict name."""
    return {r["work_id"] for r in verdict.get("reasons", []) if r.get("policy") == POLICY}


def evaluate_prompts(rows: list[dict[str, Any]], works_file: Path) -> dict[str, Any]:
    """Screen `rows` (id, prompt, label, work_id, evasion, lang) through the CLI."""
    home = fresh_home(works_file)
    prompt_file = home / "prompts.jsonl"
    prompt_file.write_text(
        "".join(json.dumps({"prompt": r["prompt"]}, ensure_ascii=False) + "\n" for r in rows),
        "utf-8",
    )
    started = time.perf_counter()
    result = provenant(home, "screen", "--prompt-file", str(prompt_file), "--json")
    seconds = time.perf_counter() - started
    verdicts = verdict_lines(result.stdout)
    if len(verdicts) != len(rows):
        sys.exit(f"screen printed {len(verdicts)} verdicts for {len(rows)} prompts")
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong = 0
    benign: Counter[str] = Counter()
    benign_flagged: Counter[str] = Counter()
    for row, verdict in zip(rows, verdicts, strict=True):
        named = named_works(verdict)
        if row["label"] == "benign":
            benign[row["evasion"]] += 1
            benign_flagged[row["evasion"]] += bool(named)
            continue
        group = "en" if row["lang"] == "en" else "other languages"
        for key in (f"evasion:{row['evasion']}", f"lang:{group}", "all"):
            total[key] += 1
            hit[key] += row["work_id"] in named
        wrong += bool(named - {row["work_id"]})
    return {
        "known_work_prompts": total["all"],
        "flagged_right_work": hit["all"],
        "recall": round(hit["all"] / max(total["all"], 1), 4),
        "also_named_another_work": wrong,
        "by_evasion": {
            k.split(":", 1)[1]: f"{hit[k]}/{total[k]}" for k in sorted(total) if "evasion:" in k
        },
        "by_language": {
            k.split(":", 1)[1]: f"{hit[k]}/{total[k]}" for k in sorted(total) if "lang:" in k
        },
        "benign_prompts": sum(benign.values()),
        "benign_false_positives": sum(benign_flagged.values()),
        "benign_false_positive_rate": round(
            sum(benign_flagged.values()) / max(sum(benign.values()), 1), 4
        ),
        "benign_by_kind": {k: f"{benign_flagged[k]}/{benign[k]}" for k in sorted(benign)},
        "screen_seconds": round(seconds, 2),
    }


def evaluate_photos() -> dict[str, Any]:
    """Screen the edited and unrelated photographs through the CLI."""
    check_sums(PHOTOS, "SHA256SUMS")
    home = fresh_home(PHOTOS / "photo_works.jsonl")
    cases = [json.loads(line) for line in (PHOTOS / "cases.jsonl").read_text().splitlines()]
    args = [a for c in cases for a in ("--image", str(PHOTOS / c["file"]))]
    verdicts = verdict_lines(provenant(home, "screen", *args, "--json").stdout)
    if len(verdicts) != len(cases):
        sys.exit(f"screen printed {len(verdicts)} verdicts for {len(cases)} images")
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_matches = 0
    rules: Counter[str] = Counter()
    for case, verdict in zip(cases, verdicts, strict=True):
        named = named_works(verdict)
        if case["work_id"] is None:
            false_matches += bool(named)
            continue
        total[case["edit"]] += 1
        ok = named == {case["work_id"]}
        hit[case["edit"]] += ok
        if ok:
            rules.update({r["rule"] for r in verdict["reasons"] if r.get("policy") == POLICY})
    edited = sum(total.values())
    return {
        "edited_copies": edited,
        "edited_flagged": sum(hit.values()),
        "by_edit": {k: f"{hit[k]}/{total[k]}" for k in sorted(total)},
        "unrelated": sum(1 for c in cases if c["work_id"] is None),
        "false_matches": false_matches,
        "layers_that_fired_on_caught_copies": dict(sorted(rules.items())),
    }


def dev_rows() -> list[dict[str, Any]]:
    """The development prompts in the test split's shape (descriptive and benign only)."""
    rows = []
    for line in (DEV / "describe_dev.tsv").read_text("utf-8").splitlines():
        work_id, prompt = line.split("\t")
        lang = "en" if prompt.isascii() else "xx"
        rows.append(
            {
                "prompt": prompt,
                "label": "known_work",
                "work_id": work_id,
                "evasion": "description",
                "lang": lang,
            }
        )
    for prompt in (DEV / "benign_dev.txt").read_text("utf-8").splitlines():
        if prompt.strip():
            rows.append({"prompt": prompt, "label": "benign", "evasion": "dev", "lang": "?"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="score the development prompts")
    parser.add_argument("--no-photos", action="store_true", help="skip the photograph split")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if args.dev:
        out["prompts_dev"] = evaluate_prompts(dev_rows(), TEST / "works.jsonl")
    else:
        check_sums(TEST, "SHA256SUMS_works")
        rows = [json.loads(line) for line in (TEST / "works_prompts.jsonl").open(encoding="utf-8")]
        out["prompts_test"] = evaluate_prompts(rows, TEST / "works.jsonl")
    if not args.no_photos:
        out["photos_test"] = evaluate_photos()
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if args.record:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        runs = previous.get("test_prompt_split_runs", 0) + (0 if args.dev else 1)
        RESULTS.write_text(
            json.dumps({**previous, **out, "test_prompt_split_runs": runs}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
