"""A human-and-model chain, end to end: sketch, render, retouch, render, retouch, ...

The demo's collaboration step (and the lineage tests and benchmark) run it: a person's
sketch is signed as their own work, a model renders it (style transfer with the sketch as
the `parentOf` content image), the person retouches the render (a scripted local edit)
and signs the edit with `--parent` and their name, and so on.  Every file is screened,
signed and recorded exactly as the CLI would do it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from provenance.pipeline.edits import EditRequest, sign_human_work
from provenance.pipeline.studio import Studio
from provenance.types import GenerationRequest, InputImage


@dataclass
class Chain:
    """The files of a collaboration chain, first step first, with their asset ids."""

    files: list[Path] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def draw_sketch(path: Path, size: int = 96) -> Path:
    """A line drawing standing in for an artist's sketch (a house under a sun)."""
    image = Image.new("RGB", (size, size), (244, 238, 224))
    pen = ImageDraw.Draw(image)
    s = size / 96
    pen.rectangle((24 * s, 48 * s, 72 * s, 84 * s), outline=(40, 40, 40), width=2)
    pen.polygon([(20 * s, 48 * s), (48 * s, 22 * s), (76 * s, 48 * s)], outline=(40, 40, 40))
    pen.ellipse((70 * s, 6 * s, 90 * s, 26 * s), outline=(200, 120, 20), width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def retouch(source: Path, target: Path, step: int) -> Path:
    """A scripted local retouch: a painted patch whose place depends on `step`."""
    image = Image.open(source).convert("RGB")
    pen = ImageDraw.Draw(image)
    x = 4 + (step * 13) % max(1, image.width // 2)
    pen.rectangle((x, 4, x + image.width // 6, 4 + image.height // 6), fill=(210, 40, 60))
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    return target


def run_chain(
    studio: Studio,
    workdir: Path,
    *,
    model: str,
    style: Path,
    renders: int = 2,
    editor: str = "Ana Lima",
    tool: str = "Krita 5.2",
    size: int = 96,
    sketch: Path | None = None,
) -> Chain:
    """Sketch, then `renders` times (model render, human retouch): 1 + 2*renders steps.

    `sketch` is the person's drawing (default: one drawn at `size` pixels).
    """
    chain = Chain()
    sketch = sketch or draw_sketch(workdir / "drafts" / "sketch.png", size)
    made = sign_human_work(studio, sketch, None, EditRequest(editor, tool=tool), workdir / "signed")
    chain.files.append(made.path)
    chain.asset_ids.append(made.asset_id)
    chain.kinds.append("human sketch")
    for n in range(1, renders + 1):
        request = GenerationRequest(
            prompt="",
            generator="style_transfer",
            model=model,
            seed=n,
            init_image=InputImage.from_path(chain.files[-1], "parentOf"),
            style_image=InputImage.from_path(style, "inputTo"),
            request_id=f"collab-render-{n}-{made.asset_id[-8:]}",
        )
        result = studio.generate(request, workdir / "renders")
        (image,) = result.images
        chain.files.append(image.path)
        chain.asset_ids.append(image.asset_id)
        chain.kinds.append("model render")
        edited = retouch(image.path, workdir / "drafts" / f"retouch-{n}.png", n)
        spec = EditRequest(editor, ("c2pa.drawing",), tool)
        made = sign_human_work(studio, edited, image.path, spec, workdir / "signed")
        chain.files.append(made.path)
        chain.asset_ids.append(made.asset_id)
        chain.kinds.append("human retouch")
    return chain
