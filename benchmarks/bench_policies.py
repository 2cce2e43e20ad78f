"""Policy latency and known-works index scale: what a screen costs at a million works.

    python benchmarks/bench_policies.py                  # 1,000,000 rows, printed table
    python benchmarks/bench_policies.py --size 100000    # smaller
    python benchmarks/bench_policies.py --robustness     # also hash match rates on photos
    python benchmarks/bench_policies.py --json           # one JSON object per section
    python benchmarks/bench_policies.py --record         # also writes results/bench_policies.json

Sections:
  prompt       lexical path of `prompt_safety` (semantic layer off) and the known-works name
               check against `--names` registered names, per prompt (target: lexical <= 1 ms)
  embeddings   known-works image query against `--size` synthetic unit vectors (512-d):
               exact batched scan, and the partitioned scan the index switches to above
               `exact_scan_max`, single and batched, with recall@1 on near-duplicate queries
               (cosine 0.9 to a stored row) and the partition build time (target <= 10 ms)
  hashes       perceptual-hash lookup among `--size` stored hashes (multi-index hashing),
               per query image (two hash rows), against a vectorised brute-force scan, and
               the hash index build time (target <= 5 ms)
  build        end-to-end `KnownWorksIndex.build` + save from a SQLite registry of
               `--registry` images with synthetic embeddings and hashes
  robustness   (optional) match rates of edited sample photographs and false matches of
               other photographs, by the hash layer alone
  names        (optional, with --robustness) name matching on the policy evaluation sets:
               protected-work prompts found, other prompts wrongly matched
  screen       (optional, `--sections screen`) `provenant screen` as users run it, this
               version beside `--previous` (default main): one-prompt wall time and peak RSS,
               per-prompt p50/p95 with every prompt_safety layer on, `--prompt-file`
               throughput on 1,000 prompts (see benchmarks/bench_screen_cli.py)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "bench_policies.json"
PROMPTS = (
    "a castle on a hill at sunset, oil painting, highly detailed",
    "portrait of an astronaut in a sunflower field, 35mm photo",
    "in the style of greg rutkowsky, a dragon over a city",
    "a cute cat wearing a tiny hat, studio lighting, 4k",
    "cyberpunk street market in the rain, neon reflections, wide angle",
)


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), d), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _near(rng: np.random.Generator, rows: np.ndarray, cosine: float) -> np.ndarray:
    noise = _unit(rng, len(rows), rows.shape[1])
    noise -= (noise * rows).sum(axis=1, keepdims=True) * rows
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (cosine * rows + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


# -- prompt ----------------------------------------------------------------------------------


def bench_prompt(names: int, repeat: int) -> dict[str, Any]:
    """Per-prompt latency of the lexical prompt-safety path and the known-works name check."""
    from provenance.config import Settings
    from provenance.policies.known_works.index import IndexedWork
    from provenance.policies.known_works.names import NameMatcher
    from provenance.protocols import PolicyContext
    from provenance.types import GenerationRequest

    out: dict[str, Any] = {"section": "prompt", "prompts": len(PROMPTS)}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(home=home, env={})
        try:
            from provenance.policies.prompt_safety import PromptSafetyPolicy
        except ImportError:
            out["prompt_safety_lexical"] = "skipped: policies.prompt_safety is not installed"
        else:
            policy = PromptSafetyPolicy({"semantic": "off"}, PolicyContext(settings=settings))
            requests = [GenerationRequest(prompt=p, generator="bench") for p in PROMPTS]
            for r in requests:
                policy.screen_prompt(r)
            times = [
                t for r in requests for t in _timed(lambda r=r: policy.screen_prompt(r), repeat)
            ]
            out["prompt_safety_lexical_ms"] = _latency(times)
    rng = np.random.default_rng(0)
    works = [
        IndexedWork(f"W{i}", f"name{i} {_word(rng)}", "", "character", "all-rights-reserved",
                    (f"{_word(rng)} {_word(rng)}", _word(rng) + _word(rng)))
        for i in range(names)
    ]  # fmt: skip
    matcher = NameMatcher(works)
    times = [t for p in PROMPTS for t in _timed(lambda p=p: matcher.match(p, 0.9, 0.85), repeat)]
    out["known_works_names"] = names * 2
    out["known_works_names_ms"] = _latency(times)
    return out


def _word(rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(letters[i] for i in rng.integers(0, 26, size=int(rng.integers(4, 10))))


def _latency(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": _ms(statistics.median(ordered)),
        "p95": _ms(ordered[int(0.95 * (len(ordered) - 1))]),
    }


# -- embeddings ------------------------------------------------------------------------------


def bench_embeddings(size: int, dim: int, batch: int, nprobe: int) -> dict[str, Any]:
    """Flat (exact) and IVF cosine search over `size` synthetic unit vectors, on faiss."""
    from provenance.policies.known_works.vectors import EmbeddingIndex

    rng = np.random.default_rng(1)
    vectors = _unit(rng, size, dim)
    owners = np.arange(size, dtype=np.int32)
    sources = rng.choice(size, batch, replace=False)
    queries = _near(rng, vectors[sources], 0.9)
    exact = EmbeddingIndex.build(vectors, owners, exact_max=size)
    out: dict[str, Any] = {"section": "embeddings", "rows": size, "dim": dim, "batch": batch}
    exact.query(queries[:2], 0.0, 10)  # warm up
    single = statistics.median(_timed(lambda: exact.query(queries[:1], 0.0, 10), 5))
    batched = statistics.median(_timed(lambda: exact.query(queries, 0.0, 10), 3))
    out["exact_single_ms"] = _ms(single)
    out["exact_batched_ms_per_query"] = _ms(batched / batch)
    start = time.perf_counter()
    parts = EmbeddingIndex.build(vectors, owners, exact_max=0)
    out["partition_build_s"] = round(time.perf_counter() - start, 2)
    out["partitions"] = parts.lists
    out["nprobe"] = nprobe
    singles = []
    hits = []
    for q in queries[: min(batch, 64)]:
        start = time.perf_counter()
        hits += parts.query(q[None, :], 0.0, 1, nprobe)
        singles.append(time.perf_counter() - start)
    out["partitioned_single_ms"] = _latency(singles)
    batch_hits = parts.query(queries, 0.0, 1, nprobe)
    batched = statistics.median(_timed(lambda: parts.query(queries, 0.0, 1, nprobe), 3))
    out["partitioned_batched_ms_per_query"] = _ms(batched / batch)
    out["partitioned_recall_at_1"] = round(
        float(
            np.mean([h.owners.tolist() == [s] for h, s in zip(batch_hits, sources, strict=True)])
        ),
        4,
    )
    return out


# -- hashes ----------------------------------------------------------------------------------


def bench_hashes(size: int, queries: int) -> dict[str, Any]:
    """Multi-index hashing lookup among `size` hashes vs a vectorised brute-force scan."""
    from provenance.policies.known_works.hashindex import HashIndex, brute_force_lookup

    rng = np.random.default_rng(2)
    rows = rng.integers(0, 2**64, size=(size, 2), dtype=np.uint64)
    owners = np.arange(size, dtype=np.int32)
    start = time.perf_counter()
    index = HashIndex.build(rows, owners)
    build = time.perf_counter() - start
    picks = rng.choice(size, queries, replace=False)
    flips = np.uint64(0b1010_0000_0100_0001)  # 4 bits: within any sensible limit
    batch = [np.array([[rows[i, 0] ^ flips, rows[i, 1]], rng.integers(0, 2**64, 2, np.uint64)])
             for i in picks]  # fmt: skip
    index.lookup(batch[0], 12, 12)
    times = [_timed(lambda q=q: index.lookup(q, 12, 12), 1)[0] for q in batch]
    found = np.mean([any(h.owner == i for h in index.lookup(q, 12, 12))
                     for q, i in zip(batch, picks, strict=True)])  # fmt: skip
    brute = statistics.median(_timed(lambda: brute_force_lookup(rows, owners, batch[0], 12, 12), 5))
    return {
        "section": "hashes",
        "rows": size,
        "limits": [12, 12],
        "build_s": round(build, 3),
        "lookup_ms_per_image": _latency(times),
        "brute_force_ms_per_image": _ms(brute),
        "planted_found": float(found),
    }


# -- build -----------------------------------------------------------------------------------


def bench_build(images: int, dim: int) -> dict[str, Any]:
    """Full index build (read rows, k-means if large, hash index, write files) from SQLite."""
    import sqlalchemy as sa

    from provenance.ledger import migrate
    from provenance.ledger.db import create_engine
    from provenance.policies.known_works.index import KnownWorksIndex
    from provenance.policies.known_works.registry import IMAGES, WORKS, KnownWorksRegistry

    rng = np.random.default_rng(3)
    model = "bench-clip:0000"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        migrate.upgrade(url)
        engine = create_engine(url)
        now = datetime.now(UTC)
        start = time.perf_counter()
        with engine.begin() as conn:
            for first in range(0, images, 10_000):
                count = min(10_000, images - first)
                conn.execute(WORKS.insert(), [_work_row(first + i, now) for i in range(count)])
                vectors = _unit(rng, count, dim)
                hashes = rng.integers(0, 2**64, size=(count, 35, 2), dtype=np.uint64)
                conn.execute(IMAGES.insert(), [
                    _image_row(first + i, vectors[i], hashes[i], model, now) for i in range(count)
                ])  # fmt: skip
            conn.execute(sa.text("UPDATE known_works_revision SET revision = revision + 1"))
        fill = time.perf_counter() - start
        registry = KnownWorksRegistry(engine)
        start = time.perf_counter()
        index = KnownWorksIndex.build(registry, model, exact_max=200_000)
        built = time.perf_counter() - start
        start = time.perf_counter()
        index.save(Path(tmp) / "index")
        saved = time.perf_counter() - start
        start = time.perf_counter()
        KnownWorksIndex.open(Path(tmp) / "index")
        opened = time.perf_counter() - start
        engine.dispose()
    return {
        "section": "build",
        "images": images,
        "hash_variants": images * 35,
        "fill_registry_s": round(fill, 2),
        "build_s": round(built, 2),
        "save_s": round(saved, 2),
        "open_s": round(opened, 3),
    }


def _work_row(i: int, now: datetime) -> dict[str, Any]:
    return {"id": f"W{i:07d}", "title": f"Work {i}", "creator": "", "kind": "artwork",
            "aliases": [], "license": "all-rights-reserved", "created_at": now}  # fmt: skip


def _image_row(i: int, vector: np.ndarray, hashes: np.ndarray, model: str, now: datetime) -> dict:
    return {
        "work_id": f"W{i:07d}", "sha256": f"{i:064x}", "source_name": f"{i}.png", "width": 1,
        "height": 1, "phash": 0, "dhash": 0, "hash_version": 1,
        "crop_hashes": hashes.astype("<u8").tobytes(), "clip_embedding": vector.tobytes(),
        "embedding_model": model, "reference": b"", "created_at": now,
    }  # fmt: skip


# -- robustness ------------------------------------------------------------------------------


def bench_robustness() -> dict[str, Any]:
    """Match rates of edited sample photographs by the hash layer, and false matches."""
    from PIL import Image, ImageEnhance
    from skimage import data
    from sklearn.datasets import load_sample_image

    from provenance.policies.known_works.hashindex import HashIndex
    from provenance.policies.known_works.hashing import query_hashes, registration_hashes

    registered = ["astronaut", "coffee", "chelsea", "rocket", "camera"]
    photos = {n: Image.fromarray(getattr(data, n)()).convert("RGB") for n in registered}
    photos |= {n: Image.fromarray(load_sample_image(f"{n}.jpg")) for n in ("china", "flower")}
    others = ["coins", "moon", "page", "text", "clock", "hubble_deep_field", "horse", "logo",
              "immunohistochemistry", "colorwheel", "grass", "gravel", "brick",
              "retina", "motorcycle"]  # fmt: skip
    names = list(photos)
    rows = [registration_hashes(photos[n]).variants for n in names]
    index = HashIndex.build(
        np.vstack(rows), np.repeat(np.arange(len(names)), [len(r) for r in rows])
    )
    rng = np.random.default_rng(4)

    def crop(im: Image.Image, f: float) -> Image.Image:
        w, h = im.size
        cw, ch = int(w * f), int(h * f)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return im.crop((x, y, x + cw, y + ch))

    def jpeg(im: Image.Image, q: int) -> Image.Image:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    families: dict[str, list[Callable[[Image.Image], Image.Image]]] = {
        "crop 95-90% random offset": [lambda im, f=f: crop(im, f) for f in (0.95, 0.9) * 4],
        "crop 85-80% random offset": [lambda im, f=f: crop(im, f) for f in (0.85, 0.8) * 4],
        "crop 75% random offset": [lambda im: crop(im, 0.75)] * 4,
        "resize 75/50/25%": [
            lambda im, s=s: im.resize((int(im.width * s), int(im.height * s)))
            for s in (0.75, 0.5, 0.25)
        ],
        "jpeg q90/70/50/30": [lambda im, q=q: jpeg(im, q) for q in (90, 70, 50, 30)],
        "brightness/contrast/saturation": [
            lambda im: ImageEnhance.Brightness(im).enhance(1.25),
            lambda im: ImageEnhance.Contrast(im).enhance(0.75),
            lambda im: ImageEnhance.Color(im).enhance(1.6),
        ],
        "rotate 1-3°": [lambda im, a=a: im.rotate(a, Image.Resampling.BICUBIC) for a in (1, 2, 3)],
        "rotate 4-5°": [lambda im, a=a: im.rotate(a, Image.Resampling.BICUBIC) for a in (4, 5)],
        "crop 90% + resize 50% + jpeg 70": [lambda im: jpeg(crop(im, 0.9).resize((256, 200)), 70)]
        * 4,
    }
    out: dict[str, Any] = {"section": "robustness", "registered": len(names), "limits": [12, 12]}
    for family, edits in families.items():
        hits = [
            any(h.owner == i for h in index.lookup(query_hashes(edit(photos[n])), 12, 12))
            for i, n in enumerate(names)
            for edit in edits
        ]
        out[family] = f"{sum(hits)}/{len(hits)}"
    false = 0
    trials = 0
    for name in others:
        pixels = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        base = Image.fromarray(pixels.astype(np.uint8) * (255 if pixels.dtype == bool else 1))
        for im in (base.convert("RGB"), crop(base.convert("RGB"), 0.9)):
            trials += 1
            false += bool(index.lookup(query_hashes(im), 12, 12))
    out["false matches (other photos)"] = f"{false}/{trials}"
    return out


# -- name accuracy ---------------------------------------------------------------------------

#: Works behind the `known_works` prompts of the policy evaluation sets, plus one-word titles
#: that are everyday words (they must not fire on ordinary prompts).
EVAL_WORKS = (
    ("Mickey Mouse", "character", ()), ("Darth Vader", "character", ()),
    ("Pikachu", "character", ()), ("Batman", "character", ("The Batman",)),
    ("Spider-Man", "character", ("Spiderman",)), ("Homer Simpson", "character", ()),
    ("The Starry Night", "artwork", ("Starry Night",)), ("Greg Rutkowski", "artist_style", ()),
    ("Elsa", "character", ()), ("Shrek", "character", ()), ("Winnie the Pooh", "character", ()),
    ("Sonic the Hedgehog", "character", ("Sonic",)), ("Super Mario", "character", ("Mario",)),
    ("Girl with a Pearl Earring", "artwork", ()), ("Hello Kitty", "character", ()),
    ("Yoda", "character", ()), ("Frozen", "artwork", ()), ("Cars", "artwork", ()),
    ("Up", "artwork", ()), ("Brave", "artwork", ()), ("Night", "artwork", ()),
)  # fmt: skip


def bench_name_accuracy() -> dict[str, Any]:
    """Known-works name matching on the policy evaluation sets (benchmarks/data)."""
    from provenance.policies.known_works.index import IndexedWork
    from provenance.policies.known_works.names import NameMatcher
    from provenance.policies.known_works.specs import work_names

    files = sorted((Path(__file__).resolve().parent / "data").glob("policy_*.jsonl"))
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line]
    if not rows:
        return {"section": "names", "skipped": "no benchmarks/data/policy_*.jsonl"}
    works = [
        IndexedWork(f"W{i}", t, "", k, "all-rights-reserved", work_names(t, "", k, a))
        for i, (t, k, a) in enumerate(EVAL_WORKS)
    ]
    matcher = NameMatcher(works)
    protected = [r["prompt"] for r in rows if r["label"] == "known_works"]
    others = [r["prompt"] for r in rows if r["label"] != "known_works"]
    missed = [p for p in protected if not matcher.match(p, 0.9, 0.85)]
    false = [p for p in others if matcher.match(p, 0.9, 0.85)]
    return {
        "section": "names",
        "registered": len(works),
        "protected prompts matched": f"{len(protected) - len(missed)}/{len(protected)}",
        "other prompts matched (false)": f"{len(false)}/{len(others)}",
        "missed": missed[:5],
        "false": false[:5],
    }


# -- driver ----------------------------------------------------------------------------------


def _bench_screen(previous: str) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_screen_cli import bench_screen

    return bench_screen(previous or None)


def _device() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _print(section: dict[str, Any]) -> None:
    print(f"\n== {section['section']}")
    width = max(len(k) for k in section)
    for key, value in section.items():
        if key != "section":
            print(f"  {key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Run the sections and print (or emit as JSON) their results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="stored vectors / hashes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128, help="queries per batched call")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--names", type=int, default=10_000, help="registered names (prompt)")
    parser.add_argument("--registry", type=int, default=50_000, help="images for `build`")
    parser.add_argument("--repeat", type=int, default=200, help="repeats per prompt")
    parser.add_argument("--sections", default="prompt,embeddings,hashes,build")
    parser.add_argument(
        "--robustness", action="store_true", help="also measure photo edits and name accuracy"
    )
    parser.add_argument("--previous", default="main", help="git ref to compare `screen` with")
    parser.add_argument("--json", action="store_true", help="one JSON object per section")
    parser.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    accuracy = ["robustness", "names"] if args.robustness else []
    sections = args.sections.split(",") + accuracy
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "prompt": lambda: bench_prompt(args.names, args.repeat),
        "embeddings": lambda: bench_embeddings(args.size, args.dim, args.batch, args.nprobe),
        "hashes": lambda: bench_hashes(args.size, 200),
        "build": lambda: bench_build(args.registry, args.dim),
        "robustness": bench_robustness,
        "names": bench_name_accuracy,
        "screen": lambda: _bench_screen(args.previous),
    }
    device = _device()  # load average before the run; the one after is added below
    results = []
    for name in sections:
        if name not in runners:
            parser.error(f"unknown section {name!r}; choose from {', '.join(runners)}")
        result = runners[name]()
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
        elif name == "screen":
            from bench_screen_cli import print_side_by_side

            print_side_by_side(result)
        else:
            _print(result)
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        device["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        if RESULTS.is_file():  # sections not run this time keep their last figures
            kept = json.loads(RESULTS.read_text()).get("results", [])
            ran = {r["section"] for r in results}
            results = [r for r in kept if r.get("section") not in ran] + results
        RESULTS.write_text(json.dumps({"device": device, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
