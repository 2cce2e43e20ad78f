"""Generate the frozen photograph test set for the known-works image screen.

Seven sample photographs bundled with scikit-image are the registered works; each gets four
edited copies (28 in all) of the kinds people use to slip a copy past a screen: mirror plus
crop, heavy crop, rotation by 10-15 degrees, and resize plus JPEG plus colour shift (the last
two mirrored on every other photograph).  Eight other bundled images are the unrelated set,
which must never match.  Everything is drawn from one seeded generator, so running this again
writes the same files; `SHA256SUMS` records them and `eval_known_works.py` refuses to score a
set whose hashes differ.

    python benchmarks/make_photo_testset.py [--out benchmarks/data/photo_test]

The set is written once and frozen: the image layer is evaluated on it, never tuned on it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SEED = 20261203
OUT = Path(__file__).parent / "data" / "photo_test"
REGISTERED = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field")
UNRELATED = (
    "moon", "page", "text", "clock", "immunohistochemistry", "retina", "brick", "gravel",
)  # fmt: skip
SAVE_QUALITY = 92
EditFn = Callable[[Image.Image, np.random.Generator, bool], tuple[Image.Image, str]]


def _load(name: str) -> Image.Image:
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)())
    image = Image.fromarray(pixels)
    image = image.convert("RGB")
    if max(image.size) > 1000:  # retina, hubble: keep the committed files small
        scale = 1000 / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    return image


def _crop(image: Image.Image, rng: np.random.Generator, lo: float, hi: float) -> Image.Image:
    fraction = float(rng.uniform(lo, hi))
    w, h = image.size
    cw, ch = int(w * fraction), int(h * fraction)
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return image.crop((x, y, x + cw, y + ch))


def mirror_crop(image: Image.Image, rng: np.random.Generator, _: bool) -> tuple[Image.Image, str]:
    """Mirrored left to right, then cropped to 70-85% of each side."""
    out = _crop(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), rng, 0.70, 0.85)
    return out, "mirror+crop"


def heavy_crop(image: Image.Image, rng: np.random.Generator, _: bool) -> tuple[Image.Image, str]:
    """A window of 45-60% of each side (a quarter to a third of the picture)."""
    return _crop(image, rng, 0.45, 0.60), "heavy crop"


def rotation(image: Image.Image, rng: np.random.Generator, mirror: bool) -> tuple[Image.Image, str]:
    """Rotated 10-15 degrees either way (black corners kept), mirrored on every other photo."""
    angle = float(rng.uniform(10, 15)) * (1 if rng.random() < 0.5 else -1)
    out = image.rotate(angle, resample=Image.Resampling.BICUBIC)
    if mirror:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return out, f"rotation {angle:+.1f}" + (" +mirror" if mirror else "")


def resize_jpeg_colour(
    image: Image.Image, rng: np.random.Generator, mirror: bool
) -> tuple[Image.Image, str]:
    """Resized to 45-70%, colour-shifted and saturated, JPEG quality 55-75."""
    scale = float(rng.uniform(0.45, 0.70))
    out = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR
    )
    shift = rng.integers(-25, 26, size=3)
    shifted = np.clip(np.asarray(out).astype(np.int16) + shift, 0, 255).astype(np.uint8)
    out = ImageEnhance.Color(Image.fromarray(shifted)).enhance(float(rng.uniform(0.7, 1.4)))
    if mirror:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=int(rng.integers(55, 76)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), "resize+jpeg+colour" + (
        " +mirror" if mirror else ""
    )


EDITS: tuple[tuple[str, EditFn], ...] = (
    ("mirror_crop", mirror_crop),
    ("heavy_crop", heavy_crop),
    ("rotation", rotation),
    ("resize_jpeg_colour", resize_jpeg_colour),
)


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=SAVE_QUALITY)


def generate(out: Path) -> None:
    """Write the registry file, the images, `cases.jsonl` and `SHA256SUMS` under `out`."""
    rng = np.random.default_rng(SEED)
    works, cases = [], []
    for number, name in enumerate(REGISTERED):
        image = _load(name)
        _save(image, out / "registered" / f"{name}.jpg")
        works.append(
            {
                "id": f"photo-{name}",
                "title": f"Registered photograph {name}",
                "creator": "scikit-image sample data",
                "kind": "artwork",
                "aliases": [],
                "license": "all-rights-reserved",
                "images": [f"registered/{name}.jpg"],
            }
        )
        for edit_name, edit in EDITS:
            edited, how = edit(image, rng, number % 2 == 0)
            file = f"edited/{name}-{edit_name}.jpg"
            _save(edited, out / file)
            cases.append({"file": file, "work_id": f"photo-{name}", "edit": edit_name, "how": how})
    for name in UNRELATED:
        file = f"unrelated/{name}.jpg"
        _save(_load(name), out / file)
        cases.append({"file": file, "work_id": None, "edit": "unrelated", "how": name})
    (out / "photo_works.jsonl").write_text("".join(json.dumps(w) + "\n" for w in works), "utf-8")
    (out / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), "utf-8")
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}" for p in files]
    (out / "SHA256SUMS").write_text("\n".join(s for s in sums if "README" not in s) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    generate(args.out)
    cases = len(REGISTERED) * len(EDITS) + len(UNRELATED)
    print(f"wrote {len(REGISTERED)} works, {cases} cases to {args.out}")


if __name__ == "__main__":
    main()
