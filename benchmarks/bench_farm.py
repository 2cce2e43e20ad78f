"""The generation farm: one 64-request batch locally and on Ray (1 and 2 workers), and the
ledger and signing capacity of the driver that records them.

    python benchmarks/bench_farm.py                 # writes results/farm.json
    python benchmarks/bench_farm.py --requests 16   # a quicker run

Part 1 runs the same batch (tiny random-weight DCGAN, one image a request, fixed seeds) with
`--executor local`, then on a local Ray instance with 1 and 2 workers; each run gets a fresh
studio (SQLite ledger, warmed by two requests on the driver first), and the images per
second are printed side by side; the farm's times include starting its actors and loading
the model in each.  On a CPU machine
with tiny models generation costs almost nothing, so these figures measure the farm's fixed
costs (dispatch, moving pixels back, central screening and signing), not the speed-up real
models on GPUs get: read them as the overhead the farm adds per image.

Part 2 is the driver's recording capacity on PostgreSQL: 8 concurrent writers appending
sample rows with `Ledger.append_many` (batches of 64) and, for comparison, one row per
transaction; the chain is verified and every row counted afterwards (no lost rows).  Each run also
reports the driver's per-image milliseconds by stage (screening, encode, C2PA signing,
file + ledger commit): the farm signs there, so the key never leaves the configured signer.
Target: >= 1,000 recorded images per second of ledger
capacity.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "farm.json"
TARGET_LEDGER_PER_S = 1_000.0


def _studio_home(root: Path, name: str) -> Path:
    from typer.testing import CliRunner

    from provenance.cli import app

    home = root / name
    result = CliRunner().invoke(app, ["--home", str(home), "init", "--json"])
    if result.exit_code != 0:
        raise SystemExit(f"init failed: {result.output}")
    return home


def _batch(root: Path, model: Path, requests: int, prefix: str = "r") -> Path:
    path = root / f"batch-{prefix}.jsonl"
    lines = [
        {"id": f"{prefix}-{i:03d}", "generator": "gan", "model": str(model)}
        | {"prompt": f"a boat {i}", "seed": i}
        for i in range(requests)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def bench_generation(root: Path, requests: int) -> list[dict[str, Any]]:
    """Images per second of one batch: local, Ray with 1 worker, Ray with 2 workers."""
    import ray

    from provenance.config import Settings
    from provenance.generators.tiny import make_tiny_models
    from provenance.pipeline.batch import run_batch
    from provenance.pipeline.farm import FarmOptions, run_farm_batch
    from provenance.pipeline.requests import read_batch
    from provenance.pipeline.studio import Studio

    models = make_tiny_models(root / "models")
    batch = _batch(root, models.gan, requests)
    warm = _batch(root, models.gan, 2, prefix="warm")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for label, workers in (("local", None), ("ray-1", 1), ("ray-2", 2)):
            home = _studio_home(root, f"home-{label}")
            out = root / f"out-{label}"
            with Studio(Settings.load(home=home)) as studio:
                # The driver's policies, signer and the local model warmed before the clock
                # starts; the farm's actor start-up and model loads stay inside it.
                run_batch(studio, list(read_batch(warm, None)), root / f"warm-{label}")
                lines = list(read_batch(batch, None))
                start = time.perf_counter()
                if workers is None:
                    summary = run_batch(studio, lines, out)
                else:
                    summary = run_farm_batch(studio, lines, out, FarmOptions(workers=workers))
                elapsed = time.perf_counter() - start
            if summary.images != requests:
                raise SystemExit(f"{label}: {summary.counts}")
            rows.append(
                {
                    "executor": label,
                    "workers": workers or 1,
                    "requests": requests,
                    "images": summary.images,
                    "seconds": round(elapsed, 2),
                    "images_per_s": round(summary.images / elapsed, 2),
                    "ms_per_image_by_stage": driver_costs(summary),
                }
            )
            print(f"  {label:6} {rows[-1]['images_per_s']:8.2f} img/s ({elapsed:.1f} s)")
    finally:
        ray.shutdown()
    return rows


def driver_costs(summary: Any) -> dict[str, float]:
    """Mean milliseconds per image of each stage the driver ran (screening, sign, store)."""
    totals: dict[str, float] = {}
    for outcome in summary.outcomes:
        if outcome.result is None:
            continue
        for stage, ms in outcome.result.timings_ms.items():
            totals[stage] = totals.get(stage, 0.0) + ms
    images = max(summary.images, 1)
    return {stage: round(ms / images, 2) for stage, ms in sorted(totals.items())}


def bench_recording(
    root: Path, postgres_url: str, images: int, batches: list[int]
) -> list[dict[str, Any]]:
    """The driver's recording rate: signed outputs committed one per row vs in batches.

    `images` outputs are sealed first (manifest, C2PA signature, ledger row built; no
    screening), then fed to the farm's `BatchRecorder` with `max_images=1` (one transaction
    per image, as before batching) and with each size in `batches`; only the recording
    (partial files written and fsynced, rows appended, files renamed) is timed.  Every
    image must end with one row and one file, and the chain must verify.
    """
    import os

    from benchmarks.bench_ledger import fresh_database
    from provenance.config import Settings
    from provenance.generators.tiny import make_tiny_models
    from provenance.pipeline.studio import Studio

    models = make_tiny_models(root / "models-recording")
    rows = []
    for engine in ("postgresql", "sqlite"):
        with fresh_database(engine, postgres_url) as url:
            os.environ["PROVENANT_DATABASE_URL"] = url
            try:
                home = _studio_home(root, f"home-recording-{engine}")
                studio = Studio(Settings.load(home=home))
            finally:
                del os.environ["PROVENANT_DATABASE_URL"]
            with studio:
                for size in [1, *batches]:
                    out = root / f"recorded-{engine}-{size}"
                    sealed = _sealed_outputs(studio, str(models.gan), f"rec-{size}", images, out)
                    row = _record(studio, sealed, size, out)
                    rows.append({"engine": engine, **row})
                    rate = row["images_recorded_per_s"]
                    print(f"  {engine:10} {row['method']:13} {rate:8.1f} img/s")
    return rows


def _sealed_outputs(studio: Any, model: str, prefix: str, images: int, out: Path) -> list[Any]:
    """`images` one-image requests, each signed with its ledger row built (not committed)."""
    from provenance.imageio import MIME_BY_FORMAT, encode_image
    from provenance.pipeline.publish import Publication, seal
    from provenance.pipeline.results import GenerationResult
    from provenance.pipeline.studio import SealedImage, SealedRequest
    from provenance.types import GenerationRequest
    from provenance.verdict import Verdict

    base = studio.prepare(GenerationRequest("a boat", "gan", model=model, seed=1))
    image = studio.generator_for(base).generate(base)[0]
    mime = MIME_BY_FORMAT[studio.settings.manifest.output_format]
    data = encode_image(image.pixels, mime, studio.settings.manifest.jpeg_quality)
    allow = Verdict.allow()
    sealed = []
    for i in range(images):
        request = studio.prepare(GenerationRequest("a boat", "gan", f"{prefix}-{i:05d}", model))
        pub = Publication(
            request=request, image=image, data=data, mime=mime, verdicts=(allow, allow),
            attributions=(), out_dir=out, filename=f"{request.request_id}-00.png", seed=1,
            params=image.params,
        )  # fmt: skip
        result = GenerationResult(request.request_id, "done", allow)
        sealed.append(SealedRequest(result, (SealedImage(seal(studio, pub), allow),)))
    return sealed


def _record(studio: Any, sealed: list[Any], size: int, out: Path) -> dict[str, Any]:
    """Time the recorder committing `sealed` in batches of `size`; check rows and files."""
    from provenance.ledger import AssetRecord
    from provenance.pipeline.recorder import BatchRecorder

    recorder = BatchRecorder(studio, max_images=size, max_wait_s=3600)
    outcomes = []
    start = time.perf_counter()
    for item in sealed:
        outcomes += recorder.add(item.result.request_id, None, lambda _reserved, s=item: s)
    outcomes += recorder.flush()
    elapsed = time.perf_counter() - start
    ids = {item.result.request_id for item in sealed}
    recorded = sum(
        1
        for e in studio.ledger.iter_entries()
        if isinstance(e.record, AssetRecord) and e.record.request_id in ids
    )
    files = len(list(out.iterdir()))
    done = sum(o.outcome == "done" for o in outcomes)
    images = len(sealed)
    if not (done == recorded == files == images) or not studio.ledger.verify_chain().ok:
        raise SystemExit(f"batch {size}: {done} done, {recorded} rows, {files} files")
    return {
        "method": "per-row" if size == 1 else f"batched({size})",
        "images": images,
        "transactions": recorder.batches,
        "seconds": round(elapsed, 3),
        "images_recorded_per_s": round(images / elapsed, 1),
        "lost_rows": images - recorded,
    }


def bench_ledger_capacity(postgres_url: str, per_writer: int) -> list[dict[str, Any]]:
    """8 concurrent PostgreSQL writers: one row per transaction, and `append_many(64)`."""
    from benchmarks.bench_ledger import bench_appends, fresh_database

    rows = []
    for batch in (1, 64):
        with fresh_database("postgresql", postgres_url) as url:
            row = bench_appends(url, writers=8, per_writer=per_writer, batch=batch)
        row["lost_rows"] = 0  # bench_appends fails unless the chain holds every row
        rows.append(row)
        print(f"  {row['method']:16} {row['appends_per_s']:10.1f} rows/s (8 writers)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--per-writer", type=int, default=640, help="rows per ledger writer")
    parser.add_argument("--record-images", type=int, default=512, help="images per recording run")
    parser.add_argument(
        "--record-batch", type=int, nargs="+", default=[64, 128], help="images per transaction"
    )
    parser.add_argument(
        "--only-recording", action="store_true", help="run the recording part alone"
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"driver recording, {args.record_images} signed images:")
        recording = bench_recording(root, args.postgres_url, args.record_images, args.record_batch)
        if args.only_recording:
            return _merge_recording(recording)
        print(f"generation, {args.requests} requests (tiny DCGAN, CPU):")
        generation = bench_generation(root, args.requests)
    signing = generation[-1]["ms_per_image_by_stage"]
    print(f"driver stages per image, ray-2 (ms): {signing}")
    print("ledger capacity on PostgreSQL:")
    ledger = bench_ledger_capacity(args.postgres_url, args.per_writer)
    local = generation[0]["images_per_s"]
    for row in generation:
        row["vs_local"] = round(row["images_per_s"] / local, 2)
    batched = ledger[-1]["appends_per_s"]
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "note": "CPU machine, tiny random-weight models: generation costs almost nothing, "
        "so the farm figures are its fixed per-image costs, not a GPU speed-up",
        "generation": generation,
        "driver_ms_per_image_ray_2": signing,
        "ledger_8_writers_postgresql": ledger,
        "driver_recording": recording,
        "ledger_target_rows_per_s": TARGET_LEDGER_PER_S,
        "ledger_target_met": batched >= TARGET_LEDGER_PER_S,
    }
    print("side by side: " + ", ".join(f"{r['executor']} x{r['vs_local']}" for r in generation))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


def _merge_recording(recording: list[dict[str, Any]]) -> int:
    """Replace only the recording figures in results/farm.json (`--only-recording`)."""
    result = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    result["driver_recording"] = recording
    result["driver_recording_machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
