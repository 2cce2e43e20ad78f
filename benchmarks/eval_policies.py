"""Recall and false-positive rate of the text policies on the public evaluation sets.

    python benchmarks/eval_policies.py                 # dev + held-out, both layer modes
    python benchmarks/eval_policies.py --set heldout --json
    python benchmarks/eval_policies.py --record        # also writes benchmarks/results/...
    python benchmarks/eval_policies.py --show-errors   # list every miss and false positive
    python benchmarks/eval_policies.py --set gendev    # dev split of the generated corpus
    python benchmarks/eval_policies.py --set test --record   # frozen test split: aggregates only

Sets (JSON lines: id, prompt, label, evasion, lang[, note]):
  * `policy_devset.jsonl` - used to write the lexicon and fit the semantic thresholds;
  * `policy_heldout.jsonl` - written separately and never tuned on: it shows how the
    policy generalises to phrasings and evasions it was not shaped around;
  * `gendev` - the `dev` split of the generated training corpus
    (`prompt_corpus/corpus.jsonl`): phrases, templates and fillers the head never saw;
  * `test` - the frozen test split `policy_test/safety.jsonl`.  Its SHA-256 is checked
    against `policy_test/SHA256SUMS` first, and only aggregate figures are printed (per
    category, per evasion, per language, benign false-positive rate): never a prompt, never
    an error list.  Every run is appended to `results/test_runs.log`, because the split
    must not become a tuning set.

Labels are a category of `prompt_safety`, `benign`, or `known_works` (protected works; those
need the known-works policy and a registry of works, and are reported as skipped here).

Metrics, per set and per mode (`lexical` = semantic layer off; `lexical+semantic` = the
encoder the settings give, multilingual E5 with its learned head by default):
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
    "gendev": HERE / "data" / "prompt_corpus" / "corpus.jsonl",
    "test": HERE / "data" / "policy_test" / "safety.jsonl",
}
TEST_SUMS = HERE / "data" / "policy_test" / "SHA256SUMS"
TEST_LOG = HERE / "results" / "test_runs.log"
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
    by_lang: Counter[str] = field(default_factory=Counter)
    by_lang_hit: Counter[str] = field(default_factory=Counter)
    benign_by_lang: Counter[str] = field(default_factory=Counter)
    benign_by_lang_refused: Counter[str] = field(default_factory=Counter)
    benign_by_evasion: Counter[str] = field(default_factory=Counter)
    benign_by_evasion_refused: Counter[str] = field(default_factory=Counter)
    false_positive: Counter[str] = field(default_factory=Counter)
    benign_refused: int = 0
    benign_total: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)


def load_set(path: Path) -> list[dict[str, Any]]:
    """Rows of one JSONL evaluation set (of the generated corpus: its dev split only)."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if path == SETS["gendev"]:
        rows = [r for r in rows if r.get("split") == "dev"]
    return rows


def check_frozen(path: Path = SETS["test"], sums: Path = TEST_SUMS) -> str:
    """The test split's SHA-256, or SystemExit when it differs from the frozen one."""
    import hashlib

    want = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            want[name.strip().lstrip("*")] = digest
    have = hashlib.sha256(path.read_bytes()).hexdigest()
    if want.get(path.name) != have:
        raise SystemExit(f"{path}: SHA-256 {have} differs from {sums}; the split is not frozen")
    return have


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
        lang = row.get("lang", "en")
        if label == "benign":
            tally.benign_total += 1
            tally.benign_refused += bool(refused)
            tally.benign_by_lang[lang] += 1
            tally.benign_by_lang_refused[lang] += bool(refused)
            tally.benign_by_evasion[row.get("evasion", "none")] += 1
            tally.benign_by_evasion_refused[row.get("evasion", "none")] += bool(refused)
            tally.false_positive.update(refused)
            if refused:
                tally.errors.append({**row, "kind": "false_positive", "got": sorted(refused)})
            continue
        tally.total[label] += 1
        tally.refused[label] += bool(refused)
        tally.right_category[label] += label in refused
        tally.by_evasion[row.get("evasion", "none")] += 1
        tally.by_evasion_hit[row.get("evasion", "none")] += label in refused
        tally.by_lang[lang] += 1
        tally.by_lang_hit[lang] += bool(refused)
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
        "refused_by_lang": {
            g: _rate(tally.by_lang_hit[g], n) for g, n in sorted(tally.by_lang.items())
        },
        "benign_fpr_by_lang": {
            g: _rate(tally.benign_by_lang_refused[g], n)
            for g, n in sorted(tally.benign_by_lang.items())
        },
        "benign_fpr_by_evasion": {
            g: _rate(tally.benign_by_evasion_refused[g], n)
            for g, n in sorted(tally.benign_by_evasion.items())
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
        langs = ", ".join(f"{g} {_pct(r).strip()}" for g, r in res["refused_by_lang"].items())
        print(f"unsafe refused by language: {langs}")
        fprs = ", ".join(f"{g} {_pct(r).strip()}" for g, r in res["benign_fpr_by_lang"].items())
        print(f"benign false positives by language: {fprs}")
        hard = ", ".join(f"{g} {_pct(r).strip()}" for g, r in res["benign_fpr_by_evasion"].items())
        print(f"benign false positives by kind: {hard}")
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
    parser.add_argument("--set", choices=[*SETS, "all"], default="all")
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument("--show-errors", action="store_true", help="list misses and FPs")
    args = parser.parse_args(argv)

    from provenance.policies.prompt_safety import CATEGORIES

    sets = ["dev", "heldout", "gendev"] if args.set == "all" else [args.set]
    if "test" in sets:
        if args.show_errors:
            raise SystemExit("--show-errors is not available for the test split")
        digest = check_frozen()
        TEST_LOG.parent.mkdir(parents=True, exist_ok=True)
        with TEST_LOG.open("a", encoding="utf-8") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            log.write(f"{stamp} sha256={digest} mode={args.mode} record={args.record}\n")
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
                "decision": "learned head" if policy.head is not None else "concept similarity",
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
        previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
        runs = {**previous.get("runs", {}), **results["runs"]}  # other sets' runs are kept
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        stamped = {**previous, **results, "runs": runs, "recorded_at": stamp}
        RESULTS.write_text(json.dumps(stamped, indent=2) + "\n", encoding="utf-8")
        print(f"recorded {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
