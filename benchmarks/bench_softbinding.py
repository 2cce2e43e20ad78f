"""Durable credentials: invisibility, survival, false recoveries and cost, in one run.

    .venv/bin/python benchmarks/bench_softbinding.py [--outputs N] [--unrelated M]

Signed outputs are stood in for by photographs (scikit-image's sample pictures, resized to
512 px and cut into distinct crops) watermarked and fingerprinted exactly as `publish`
does; unrelated images are other crops of the same pictures never registered, flips of
nothing, and noise.  Recovery follows `provenance.softbinding.recovery`: the watermark's id
must pass its check bits and be registered, or the PDQ distance must be <= 31.  Results go
to benchmarks/results/softbinding.json.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from skimage import data
from skimage.metrics import structural_similarity

from provenance.softbinding import fingerprint, payload, watermark
from provenance.softbinding.index import FingerprintIndex

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
          "motorcycle_left", "retina", "cat", "colorwheel")  # fmt: skip


def _sources() -> list[np.ndarray]:
    out = []
    for name in PHOTOS:
        try:
            img = getattr(data, name)()
        except Exception:  # a sample picture that needs a download is skipped
            continue
        out.append(np.asarray(Image.fromarray(img).convert("RGB")))
    return out


def _images(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sources, out = _sources(), []
    while len(out) < count:
        src = sources[len(out) % len(sources)]
        h, w = src.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(src[y : y + side, x : x + side]).resize((512, 512))
        out.append(np.asarray(crop))
    return out


def _reencode(img: Image.Image, fmt: str, **kw: object) -> np.ndarray:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


TRANSFORMS = {
    "stripped": lambda im: _reencode(im, "PNG"),
    "jpeg75": lambda im: _reencode(im, "JPEG", quality=75),
    "jpeg50": lambda im: _reencode(im, "JPEG", quality=50),
    "resize50": lambda im: np.asarray(im.resize((im.width // 2, im.height // 2))),
    "crop80": lambda im: np.asarray(
        im.crop((im.width // 10, im.height // 10, im.width * 9 // 10, im.height * 9 // 10))
    ),
    "brightness20": lambda im: np.asarray(ImageEnhance.Brightness(im).enhance(1.2)),
    "webp": lambda im: _reencode(im, "WEBP", quality=80),
    "requant8": lambda im: np.asarray(im.quantize(256).convert("RGB")),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=20)
    parser.add_argument("--unrelated", type=int, default=40)
    parser.add_argument("--index-size", type=int, default=1_000_000)
    args = parser.parse_args()
    marker = watermark.RivaGan()
    outputs = _images(args.outputs, 1)
    ids = [1000 + i for i in range(len(outputs))]
    marker.embed(outputs[0], payload.encode(1))  # open the ONNX session outside the timing
    embed_ms, psnr, ssim, prints, marked = [], [], [], [], []
    for img, wid in zip(outputs, ids, strict=True):
        start = time.perf_counter()
        m = marker.embed(img, payload.encode(wid))
        embed_ms.append((time.perf_counter() - start) * 1000)
        mse = np.mean((m.astype(float) - img) ** 2)
        psnr.append(10 * np.log10(255**2 / max(mse, 1e-9)))
        ssim.append(structural_similarity(img, m, channel_axis=2))
        prints.append(fingerprint.pdq(m)[0])
        marked.append(m)
    index = FingerprintIndex(prints)
    by_id = dict(zip(ids, range(len(ids)), strict=True))

    def recover(rgb: np.ndarray) -> tuple[int | None, int | None]:
        wid = payload.decode(marker.decode(rgb)) if watermark.fits(*rgb.shape[:2]) else None
        near = index.nearest(fingerprint.pdq_dihedral(rgb), fingerprint.MATCH_DISTANCE)
        return by_id.get(wid) if wid else None, near.position if near else None

    table = {}
    for name, transform in TRANSFORMS.items():
        wm_ok = fp_ok = any_ok = 0
        for pos, m in enumerate(marked):
            by_wm, by_fp = recover(transform(Image.fromarray(m)))
            wm_ok += by_wm == pos
            fp_ok += by_fp == pos
            any_ok += pos in (by_wm, by_fp)
        n = len(marked)
        table[name] = {"watermark": wm_ok / n, "fingerprint": fp_ok / n, "either": any_ok / n}
    rng = np.random.default_rng(9)
    unrelated = _images(args.unrelated // 2, 2) + [
        rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(args.unrelated // 2)
    ]
    false = sum(any(r is not None for r in recover(u)) for u in unrelated)

    big = FingerprintIndex(np.random.default_rng(3).integers(0, 256, (args.index_size, 32),
                                                              dtype=np.uint8))  # fmt: skip
    query = fingerprint.pdq_dihedral(marked[0])
    times1, times8 = [], []
    for _ in range(5):
        start = time.perf_counter()
        big.nearest(query[:1], fingerprint.MATCH_DISTANCE)
        times1.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        big.nearest(query, fingerprint.MATCH_DISTANCE)
        times8.append((time.perf_counter() - start) * 1000)
    result = {
        "outputs": len(marked),
        "unrelated": len(unrelated),
        "psnr_db_mean": float(np.mean(psnr)),
        "psnr_db_min": float(np.min(psnr)),
        "ssim_mean": float(np.mean(ssim)),
        "ssim_min": float(np.min(ssim)),
        "recovery": table,
        "false_recoveries": int(false),
        "thresholds": {"pdq_distance": fingerprint.MATCH_DISTANCE, "payload": "CRC-8 + issued id"},
        "embed_ms_median": float(np.median(embed_ms)),
        "lookup_ms_at_index_size": {"size": args.index_size, "one_hash_median": float(
            np.median(times1)), "eight_dihedral_median": float(np.median(times8))},
    }  # fmt: skip
    print(f"{'transform':<14}{'watermark':>10}{'fingerprint':>12}{'either':>8}")
    for name, row in table.items():
        print(
            f"{name:<14}{row['watermark']:>10.0%}{row['fingerprint']:>12.0%}{row['either']:>8.0%}"
        )
    print(json.dumps({k: v for k, v in result.items() if k != "recovery"}, indent=1))
    out = Path(__file__).parent / "results" / "softbinding.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
