"""Recall and false-positive rate of the text policies on the public evaluation sets.

    python benchmarks/eval_policies.py                 # dev + held-out, both layer modes
    python benchmarks/eval_policies.py --set heldout --json
    python benchmarks/eval_policies.py --record        # also writes benchmarks/results/...
    python benchmarks/eval_policies.py --show-errors   # list every miss and false positive

Sets (JSON lines: id, prompt, label, evasion, lang[, note]):
  * `policy_devset.jsonl` - used to write the lexicon and fit the semantic thresholds;
  * `policy_heldout.jsonl` - written separately and never tuned on: it shows how the
    policy generalises to phrasings and evasions it was not shaped around.

Labels are a category of `prompt_safety`, `benign`, or `known_works` (protected works; those
need the known-works policy and a registry of works, and are reported as skipped here).

Metrics, per set and per mode (`lexical` = semantic layer off; `lexical+semantic` = the
encoder the settings give, MiniLM by default):
  * recall of a category: share of its prompts refused *with a reason of that category*;
  * refused: share of its prompts refused for any reason;
  * false-positive rate: share of benign prompts refused (overall and per category).
Every category is set to `block` for the evaluation, whatever a config says.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SETS = {
    "dev": HERE / "data" / "policy_devset.jsonl",
    "heldout": HERE / "data" / "policy_heldout.jsonl",
}
RESULTS = HERE / "results" / "eval_policies.json"
MODES = {"lexical": "off", "lexical+semantic": "auto"}


@dataclass
class Tally:
    """Counts for one set in one mode."""

    total: Counter[str] = field(default_factory=Counter)
    right_category: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    by_evasion: Counter[str] = field(default_factory=Counter)
    by_evasion_hit: Counter[str] = field(default_factory=Counter)
    false_positive: Counter[str] = field(default_factory=Counter)
    benign_refused: int = 0
    benign_total: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)


def load_set(path: Path) -> list[dict[str, Any]]:
    """Rows of one JSONL evaluation set."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build_policy(semantic: str) -> Any:
    """A prompt_safety policy with every category blocking, on a throwaway data dir."""
    from provenance.config import Settings
    from provenance.policies.prompt_safety import ALWAYS_BLOCKED, CATEGORIES, PromptSafetyPolicy
    from provenance.protocols import PolicyContext

    home = Path(tempfile.mkdtemp(prefix="provenant-eval-"))
    settings = Settings.load(home=home, env={})
    categories = {c: {"action": "block"} for c in CATEGORIES if c != ALWAYS_BLOCKED}
    options = {"semantic": semantic, "categories": categories}
    return PromptSafetyPolicy(options, PolicyContext(settings=settings))


def evaluate(policy: Any, rows: Iterable[dict[str, Any]], categories: set[str]) -> Tally:
    """Screen every row and count hits, misses and false positives."""
    from provenance.types import GenerationRequest

    tally = Tally()
    for row in rows:
        label = row["label"]
        if label != "benign" and label not in categories:
            tally.skipped[label] += 1
            continue
        start = time.perf_counter()
        verdict = policy.screen_prompt(GenerationRequest(prompt=row["prompt"], generator="eval"))
        tally.millis.append((time.perf_counter() - start) * 1000)
        refused = {r.category for r in verdict.reasons if r.action.refuses}
        if label == "benign":
            tally.benign_total += 1
            tally.benign_refused += bool(refused)
            tally.false_positive.update(refused)
            if refused:
                tally.errors.append({**row, "kind": "false_positive", "got": sorted(refused)})
            continue
        tally.total[label] += 1
        tally.refused[label] += bool(refused)
        tally.right_category[label] += label in refused
        tally.by_evasion[row.get("evasion", "none")] += 1
        tally.by_evasion_hit[row.get("evasion", "none")] += label in refused
        if label not in refused:
            tally.errors.append({**row, "kind": "miss", "got": sorted(refused)})
    return tally


def summarise(tally: Tally, categories: Iterable[str]) -> dict[str, Any]:
    """JSON-ready metrics of one tally."""
    per_category = {}
    for category in categories:
        n = tally.total[category]
        per_category[category] = {
            "n": n,
            "recall": _rate(tally.right_category[category], n),
            "refused": _rate(tally.refused[category], n),
            "false_positive_rate": _rate(tally.false_positive[category], tally.benign_total),
        }
    unsafe = sum(tally.total.values())
    return {
        "categories": per_category,
        "recall": _rate(sum(tally.right_category.values()), unsafe),
        "refused": _rate(sum(tally.refused.values()), unsafe),
        "false_positive_rate": _rate(tally.benign_refused, tally.benign_total),
        "unsafe": unsafe,
        "benign": tally.benign_total,
        "recall_by_evasion": {
            e: _rate(tally.by_evasion_hit[e], n) for e, n in sorted(tally.by_evasion.items())
        },
        "skipped": dict(tally.skipped),
        "ms_per_prompt": {
            "mean": round(statistics.fmean(tally.millis), 3) if tally.millis else None,
            "median": round(statistics.median(tally.millis), 3) if tally.millis else None,
        },
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def print_report(results: dict[str, Any], errors: dict[str, list[dict[str, Any]]]) -> None:
    """Human tables, one per set and mode."""
    for key, res in results["runs"].items():
        print(
            f"\n== {key}: {res['unsafe']} unsafe, {res['benign']} benign prompts "
            f"(encoder: {res['encoder']}; {res['ms_per_prompt']['median']} ms median)"
        )
        print(f"{'category':22} {'n':>4} {'recall':>7} {'refused':>8} {'FPR':>7}")
        for category, m in res["categories"].items():
            print(
                f"{category:22} {m['n']:>4} {_pct(m['recall']):>7} {_pct(m['refused']):>8} "
                f"{_pct(m['false_positive_rate']):>7}"
            )
        print(
            f"{'all':22} {res['unsafe']:>4} {_pct(res['recall']):>7} {_pct(res['refused']):>8} "
            f"{_pct(res['false_positive_rate']):>7}"
        )
        evasions = ", ".join(f"{e} {_pct(r).strip()}" for e, r in res["recall_by_evasion"].items())
        print(f"recall by evasion: {evasions}")
        if res["skipped"]:
            print(f"skipped (policy not evaluated here): {res['skipped']}")
        for err in errors.get(key, []):
            print(
                f"  {err['kind']:14} {err['id']} [{err['label']}] got={err['got']} "
                f"{err['prompt']!r}"
            )


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; exit 0 (the numbers are the result, not a pass/fail)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["dev", "heldout", "all"], default="all")
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument("--show-errors", action="store_true", help="list misses and FPs")
    args = parser.parse_args(argv)

    from provenance.policies.prompt_safety import CATEGORIES

    sets = list(SETS) if args.set == "all" else [args.set]
    modes = list(MODES) if args.mode == "all" else [args.mode]
    results: dict[str, Any] = {"runs": {}}
    errors: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for mode in modes:
        policy = build_policy(MODES[mode])
        for name in sets:
            tally = evaluate(policy, load_set(SETS[name]), set(CATEGORIES))
            key = f"{name}/{mode}"
            results["runs"][key] = {
                **summarise(tally, CATEGORIES),
                "encoder": policy.plan.kind or "none",
            }
            if args.show_errors:
                errors[key] = tally.errors
    results["lexicon_version"] = policy.lexicon.version
    results["concepts_version"] = policy.concepts.version
    if args.json:
        print(json.dumps(results))
    else:
        print_report(results, errors)
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stamped = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **results}
        RESULTS.write_text(json.dumps(stamped, indent=2) + "\n", encoding="utf-8")
        print(f"recorded {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
