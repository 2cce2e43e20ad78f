"""Choose the semantic layer's threshold and margin on the development prompts only.

Development data (`benchmarks/data/known_works_dev/`) was written separately from the frozen
test split and by another procedure: short hand-written paraphrases from common knowledge of
each work (`describe_dev.tsv`, some in other languages), and everyday prompts that share
words or themes with the registered works (`benign_dev.txt`).  The registry is the studio
file of the test split (`works.jsonl`: names and descriptions, no prompts); the test prompts
are never read here.

    python benchmarks/tune_known_works_dev.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from provenance.policies.known_works.semantic_text import (
    LexicalOverlap,
    best_per_work,
    embed_passages,
    passages_for,
    semantic_match,
    work_words,
)
from provenance.policies.text_embed import E5Encoder

DATA = Path(__file__).parent / "data"
DEV = DATA / "known_works_dev"


def main() -> None:
    works = [json.loads(line) for line in (DATA / "policy_test" / "works.jsonl").open()]
    encoder = E5Encoder()
    vectors, owners = [], []
    for position, w in enumerate(works):
        passages = passages_for(w["title"], w["creator"], w["aliases"], w.get("description", ""))
        block = embed_passages(encoder, passages)
        vectors.append(block)
        owners += [position] * len(block)
    matrix, owner_arr = np.concatenate(vectors), np.array(owners)
    overlap = LexicalOverlap(
        work_words(w["title"], w["creator"], w["aliases"], w.get("description", "")) for w in works
    )
    ids = [w["id"] for w in works]
    described = [line.split("\t") for line in (DEV / "describe_dev.tsv").read_text().splitlines()]
    benign = [line for line in (DEV / "benign_dev.txt").read_text().splitlines() if line]
    print(f"{len(described)} descriptive dev prompts, {len(benign)} benign dev prompts")
    print("weight threshold margin  recall(right work)  benign flagged")
    for weight in (0.0, 0.005, 0.008, 0.012):

        def best(prompts: list[str], weight: float = weight) -> list[np.ndarray]:
            queries = encoder.encode(prompts)
            return [
                best_per_work(matrix @ q, owner_arr, len(works)) + weight * overlap.scores(p)
                for q, p in zip(queries, prompts, strict=True)
            ]

        best_desc = best([p for _, p in described])
        best_benign = best(benign)
        for threshold in np.arange(0.86, 1.0, 0.02):
            for margin in (0.0, 0.02):
                hits = sum(
                    (m := semantic_match(b, threshold, margin)) is not None and ids[m[0]] == wid
                    for b, (wid, _) in zip(best_desc, described, strict=True)
                )
                fp = sum(semantic_match(b, threshold, margin) is not None for b in best_benign)
                print(
                    f"  {weight:.3f} {threshold:.2f}    {margin:.2f}     {hits:3d}/{len(described)}"
                    f"           {fp:3d}/{len(benign)}"
                )


if __name__ == "__main__":
    main()
