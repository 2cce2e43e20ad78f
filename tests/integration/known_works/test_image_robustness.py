"""Real photographs: edited copies of registered works match by hash; other photos do not.

The registered works are sample photographs shipped with scikit-image and scikit-learn.  No
CLIP weights are configured here, so everything rests on the perceptual-hash layer, which is
the point: it must carry near-duplicate detection on its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from provenance.config import Settings
from provenance.ledger import migrate
from provenance.pipeline.policyset import as_screenable
from provenance.policies.known_works import KnownWorksPolicy
from provenance.policies.known_works.prepare import prepare_work
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest
from provenance.verdict import Action

REGISTERED = ("astronaut", "coffee", "chelsea", "rocket", "camera", "china", "flower")
OTHERS = (
    "coins", "moon", "page", "text", "clock", "hubble_deep_field", "immunohistochemistry",
    "motorcycle", "colorwheel", "grass", "gravel", "brick", "retina", "horse", "logo",
)  # fmt: skip


def _crop(img: Image.Image, fraction: float, anchor: str) -> Image.Image:
    w, h = img.size
    cw, ch = int(w * fraction), int(h * fraction)
    x = {"centre": (w - cw) // 2, "top-left": 0, "bottom-right": w - cw}[anchor]
    y = {"centre": (h - ch) // 2, "top-left": 0, "bottom-right": h - ch}[anchor]
    return img.crop((x, y, x + cw, y + ch))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _colour_shift(img: Image.Image) -> Image.Image:
    shifted = np.asarray(img).astype(np.int16) + np.array([25, -10, -20])
    return ImageEnhance.Color(Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8))).enhance(
        1.3
    )


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop 90% centre": lambda im: _crop(im, 0.9, "centre"),
    "crop 90% corner": lambda im: _crop(im, 0.9, "top-left"),
    "crop 90% other corner": lambda im: _crop(im, 0.9, "bottom-right"),
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "jpeg q70": lambda im: _jpeg(im, 70),
    "colour shift": _colour_shift,
    "rotate 3°": lambda im: im.rotate(3, resample=Image.Resampling.BICUBIC),
    "rotate 3° expanded": lambda im: im.rotate(3, Image.Resampling.BICUBIC, expand=True),
    "crop, resize and jpeg": lambda im: _jpeg(_crop(im, 0.9, "top-left").resize((200, 160)), 70),
}


@pytest.fixture(scope="module")
def policy(
    tmp_path_factory: pytest.TempPathFactory, photo: Callable[[str], Image.Image]
) -> Iterator[KnownWorksPolicy]:
    """The seven registered photographs, screened by hashes only (no CLIP configured)."""
    home = tmp_path_factory.mktemp("robust-home")
    settings = Settings.load(
        home=home, env={}, overrides={"database_url": f"sqlite:///{home / 'ledger.db'}"}
    )
    migrate.upgrade(settings.database_url)
    registry = KnownWorksRegistry.from_settings(settings)
    refs = tmp_path_factory.mktemp("refs")
    works = []
    for name in REGISTERED:
        photo(name).save(refs / f"{name}.png")
        spec = WorkSpec(
            id=f"W-{name}",
            title=name.title(),
            kind="artwork",
            license="all-rights-reserved",
            images=(refs / f"{name}.png",),
        )
        works.append(prepare_work(spec, None))
    registry.add(works)
    yield KnownWorksPolicy({}, PolicyContext(settings=settings))
    registry.close()


def _screen(policy: KnownWorksPolicy, img: Image.Image):
    request = GenerationRequest(prompt="", generator="test")
    return policy.screen_image(as_screenable(img.convert("RGB")), request)


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("name", REGISTERED)
def test_edited_copies_of_registered_photos_match(
    policy: KnownWorksPolicy, photo: Callable[[str], Image.Image], name: str, edit: str
) -> None:
    verdict = _screen(policy, EDITS[edit](photo(name)))
    assert verdict.action is Action.BLOCK
    assert {r.work_id for r in verdict.reasons} == {f"W-{name}"}
    reason = next(r for r in verdict.reasons if r.rule == "phash")  # hashes alone suffice here
    assert reason.work_title == name.title()
    assert reason.score >= reason.threshold
    assert verdict.disabled == (
        "known_works.clip_image: no CLIP checkpoint configured (set [clip] checkpoint)",
    )


@pytest.mark.parametrize("name", OTHERS)
def test_other_photographs_do_not_match(
    policy: KnownWorksPolicy, photo: Callable[[str], Image.Image], name: str
) -> None:
    for variant in (photo(name), EDITS["crop 90% corner"](photo(name))):
        verdict = _screen(policy, variant)
        assert verdict.action is Action.ALLOW, [r.summary() for r in verdict.reasons]
        assert verdict.reasons == ()


def test_mirrored_photo_matches_by_hash_and_by_geometry(
    policy: KnownWorksPolicy, photo: Callable[[str], Image.Image]
) -> None:
    """A mirror image is a copy: the query is hashed and described mirrored too (the index
    holds unmirrored references only, so flips do not crowd it)."""
    verdict = _screen(policy, photo("astronaut").transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert verdict.action is Action.BLOCK
    assert {r.rule for r in verdict.reasons} == {"phash", "geometric"}
    assert {r.work_id for r in verdict.reasons} == {"W-astronaut"}
    assert "(mirrored)" in next(r for r in verdict.reasons if r.rule == "geometric").detail
