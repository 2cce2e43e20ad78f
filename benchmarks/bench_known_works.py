"""Image similarity per output against a registry of 10,000 works: previous vs new, side by side.

    python benchmarks/bench_known_works.py                 # 10,000 works, printed table
    python benchmarks/bench_known_works.py --works 2000    # smaller
    python benchmarks/bench_known_works.py --record        # also writes results/...

A synthetic registry is written to a throwaway SQLite database through the registry's own
`add`: one image per work, with random crop-hash rows (81 per image, as registration makes)
and real ORB features of seeded synthetic pictures (1,000 distinct pictures, each reused ten
times with 20% of descriptor bits flipped and the points jittered, so no two works share
descriptors).  One registered work is a real photograph (scikit-image's `astronaut`).
Queries are outputs of 512 pixels: the registered photograph mirrored and cropped, and
unrelated sample photographs.

* previous — what an output cost before the geometric layer: whole-image and centre-crop
  hashes, multi-index lookup (the CLIP layer is off in both, as without weights);
* new — `KnownWorksPolicy.screen_image` as the pipeline calls it: hashes of the image and
  its mirror, ORB of both, LSH candidates, RANSAC verification.

Target: new <= 20 ms per output (p95 reported too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

RESULTS = Path(__file__).parent / "results" / "bench_known_works.json"
DISTINCT = 1000
SIDE = 320
REPEATS = 25


def synthetic_picture(rng: np.random.Generator) -> Image.Image:
    """Smooth noise with random shapes and lines: corners for ORB, like a busy picture."""
    base = cv2.resize(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), (SIDE, SIDE))
    for _ in range(int(rng.integers(8, 20))):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = (int(v) for v in rng.integers(0, SIDE, 2))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            cv2.rectangle(base, (x, y), (x + int(rng.integers(10, 80)), y + 40), colour, -1)
        elif kind == 1:
            cv2.circle(base, (x, y), int(rng.integers(5, 40)), colour, -1)
        else:
            end = (int(rng.integers(0, SIDE)), int(rng.integers(0, SIDE)))
            cv2.line(base, (x, y), end, colour, int(rng.integers(1, 5)))
    return Image.fromarray(base)


def build_registry(url: str, works: int, seed: int = 7) -> None:
    """Register `works` synthetic works (see the module docstring) through `registry.add`."""
    from provenance.ledger.db import create_engine
    from provenance.policies.known_works.features import Features, extract
    from provenance.policies.known_works.hashing import ImageHashes, registration_hashes
    from provenance.policies.known_works.prepare import PreparedImage, PreparedWork, reference_copy
    from provenance.policies.known_works.registry import KnownWorksRegistry
    from provenance.policies.known_works.specs import WorkSpec

    rng = np.random.default_rng(seed)
    pictures = [extract(synthetic_picture(rng)) for _ in range(min(DISTINCT, works))]
    tiny = reference_copy(Image.new("RGB", (8, 8)))
    photo = _photo("astronaut")
    prepared = []
    for n in range(works):
        if n == 0:
            features, hashes = extract(photo), registration_hashes(photo)
        else:
            base = pictures[n % len(pictures)]
            flips = np.packbits(rng.random((len(base), 256)) < 0.2, axis=1)
            jitter = rng.normal(0, 1.0, base.points.shape).astype(np.float32)
            features = Features(
                base.points + jitter, base.descriptors ^ flips, base.width, base.height
            )
            rows = rng.integers(0, 2**63, size=(81, 2), dtype=np.uint64)
            hashes = ImageHashes(int(rows[0, 0]), int(rows[0, 1]), rows)
        image = PreparedImage(
            sha256=uuid.UUID(int=int(rng.integers(0, 2**62)) * 4 + n).hex * 2,
            source_name=f"w{n}.png",
            width=SIDE,
            height=SIDE,
            hashes=hashes,
            reference=tiny,
            embedding=None,
            features=features,
        )
        spec = WorkSpec(
            id=f"W{n:06d}", title=f"Work {n}", kind="artwork", license="all-rights-reserved"
        )
        prepared.append(PreparedWork(spec, (image,), None, None))
    registry = KnownWorksRegistry(create_engine(url))
    for start in range(0, works, 2000):
        registry.add(prepared[start : start + 2000])
    registry.close()


def _photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _queries() -> dict[str, Image.Image]:
    astronaut = _photo("astronaut")
    copy = ImageOps.mirror(astronaut).crop((60, 40, 60 + 380, 40 + 380)).resize((512, 512))
    return {
        "registered photo, mirrored + cropped": copy,
        "unrelated photo (coffee)": _photo("coffee").resize((512, 512)),
        "unrelated photo (chelsea)": _photo("chelsea").resize((512, 512)),
    }


def _time(fn: Any) -> tuple[float, float, Any]:
    fn()  # warm
    samples, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], result


def run(works: int) -> dict[str, Any]:
    """Build the registry and index, then time previous and new per query."""
    from provenance.config import Settings
    from provenance.ledger import migrate
    from provenance.pipeline.policyset import as_screenable
    from provenance.policies.known_works import KnownWorksPolicy
    from provenance.policies.known_works.hashing import query_hashes
    from provenance.protocols import PolicyContext
    from provenance.types import GenerationRequest

    home = Path(tempfile.mkdtemp(prefix="provenant-bench-kw-"))
    url = f"sqlite:///{home / 'ledger.db'}"
    migrate.upgrade(url)
    started = time.perf_counter()
    build_registry(url, works)
    registry_s = time.perf_counter() - started
    settings = Settings.load(home=home, env={}, overrides={"database_url": url})
    policy = KnownWorksPolicy({"check_prompt": False}, PolicyContext(settings=settings))
    started = time.perf_counter()
    index = policy.index()
    index_s = time.perf_counter() - started
    request = GenerationRequest(prompt="", generator="bench")
    rows = []
    for name, image in _queries().items():
        screenable = as_screenable(image)
        prev50, prev95, prev_hits = _time(
            lambda img=image: index.hashes.lookup(query_hashes(img), 12, 12)
        )
        new50, new95, verdict = _time(lambda s=screenable: policy.screen_image(s, request))
        rows.append(
            {
                "query": name,
                "previous_ms_p50": round(prev50, 2),
                "previous_ms_p95": round(prev95, 2),
                "previous_matched": sorted({index.works[h.owner].id for h in prev_hits}),
                "new_ms_p50": round(new50, 2),
                "new_ms_p95": round(new95, 2),
                "new_matched": sorted({r.work_id for r in verdict.reasons if r.work_id}),
            }
        )
    return {
        "works": works,
        "stored_descriptors": len(index.features.descriptors),
        "registry_build_s": round(registry_s, 1),
        "index_build_s": round(index_s, 1),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "queries": rows,
        "target_ms": 20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=10_000)
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    result = run(args.works)
    print(f"{result['works']} works, {result['stored_descriptors']} stored ORB descriptors")
    print(f"{'query':40s} {'previous p50/p95 ms':>20s} {'new p50/p95 ms':>16s}  matched (new)")
    for row in result["queries"]:
        prev = f"{row['previous_ms_p50']}/{row['previous_ms_p95']}"
        new = f"{row['new_ms_p50']}/{row['new_ms_p95']}"
        print(f"{row['query']:40s} {prev:>20s} {new:>16s}  {row['new_matched']}")
    if args.record:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
