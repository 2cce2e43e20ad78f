"""Perceptual-hash lookup at scale: faiss's exact binary index beside the current
multi-index hashing (`HashIndex`), side by side in one run, with recall against brute force.

    python benchmarks/bench_known_works_scale.py --rows 100000      # calibrate
    python benchmarks/bench_known_works_scale.py --rows 1000000 --record

Synthetic (pHash, dHash) rows, uniformly random; each query image is two rows (whole image
and centre crop, as `query_hashes` makes), one a few bits from a stored row.  faiss scans the
8-byte pHash codes (`provenance.binary_index`, radius = the pHash limit) and the dHash limit
is checked on what it returns.  Target: <= 5 ms per query image.  The embeddings half of
the issue (IVF) is not measured here yet.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "known_works_scale.json"
LIMIT = 12


def _median_ms(fn: Any, items: list[Any]) -> float:
    fn(items[0])
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def run(rows: int, queries: int) -> dict[str, Any]:
    """Build both indexes over `rows` hash rows and time `queries` query images."""
    from provenance.binary_index import BinaryCodeIndex, brute_force_within
    from provenance.policies.known_works.hashindex import HashIndex

    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, size=(rows, 2), dtype=np.uint64)
    owners = np.arange(rows, dtype=np.int32)
    picks = rng.choice(rows, queries, replace=False)
    flips = np.uint64(0b1010_0000_0100_0001)
    batch = [np.array([[hashes[i, 0] ^ flips, hashes[i, 1]], rng.integers(0, 2**64, 2, np.uint64)])
             for i in picks]  # fmt: skip
    codes = hashes[:, 0].astype(">u8").view(np.uint8).reshape(-1, 8)

    tracemalloc.start()
    start = time.perf_counter()
    current = HashIndex.build(hashes, owners)
    current_build = time.perf_counter() - start
    current_mem = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    start = time.perf_counter()
    faiss_index = BinaryCodeIndex(8)
    faiss_index.add(codes, np.arange(rows, dtype=np.int64))
    faiss_build = time.perf_counter() - start

    def faiss_lookup(q: np.ndarray) -> set[int]:
        qcodes = q[:, 0].astype(">u8").view(np.uint8).reshape(-1, 8)
        found: set[int] = set()
        for row, hits in zip(q, faiss_index.within(qcodes, LIMIT), strict=True):
            d = np.bitwise_count(hashes[hits.ids, 1] ^ row[1])
            found.update(int(i) for i in hits.ids[d <= LIMIT])
        return found

    recall_hits = 0
    for q, i in zip(batch[:20], picks[:20], strict=True):
        qcodes = q[:, 0].astype(">u8").view(np.uint8).reshape(-1, 8)
        exact = {int(x) for h in brute_force_within(codes, owners, qcodes, LIMIT) for x in h.ids}
        exact = {x for x in exact if any(np.bitwise_count(hashes[x, 1] ^ q[:, 1]) <= LIMIT)}
        recall_hits += int(faiss_lookup(q) == exact and i in exact)
    return {
        "rows": rows,
        "limits": [LIMIT, LIMIT],
        "faiss_flat": {
            "build_s": round(faiss_build, 3),
            "codes_mb": round(codes.nbytes / 2**20, 1),
            "lookup_ms_per_image": _median_ms(faiss_lookup, batch),
            "equal_to_brute_force": f"{recall_hits}/20",
        },
        "current_mih": {
            "build_s": round(current_build, 3),
            "peak_build_mb": round(current_mem / 2**20, 1),
            "lookup_ms_per_image": _median_ms(lambda q: current.lookup(q, LIMIT, LIMIT), batch),
        },
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_ms": 5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="faiss OpenMP threads")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)  # spin-waiting threads hurt on busy cores
    result = run(args.rows, args.queries)
    result["faiss_threads"] = args.threads
    f, c = result["faiss_flat"], result["current_mih"]
    ratio = c["lookup_ms_per_image"] / f["lookup_ms_per_image"]
    print(f"{result['rows']:,} hash rows, limits {LIMIT}/{LIMIT}, load {result['load_average_1m']}")
    print(f"{'':14s}{'build s':>10s}{'ms/image':>10s}")
    print(f"{'faiss flat':14s}{f['build_s']:>10}{f['lookup_ms_per_image']:>10}"
          f"  exact on {f['equal_to_brute_force']} queries")  # fmt: skip
    print(f"{'current MIH':14s}{c['build_s']:>10}{c['lookup_ms_per_image']:>10}"
          f"  (current / faiss = {ratio:.2f}x)")  # fmt: skip
    if args.record:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
