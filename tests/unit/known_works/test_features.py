"""Local features and geometric verification: copies confirmed, unrelated pictures never."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from provenance.policies.known_works.featureindex import FeatureIndex
from provenance.policies.known_works.features import (
    extract,
    query_features,
    unpack_features,
    verify,
)
from provenance.policies.known_works.policy import MIN_INLIERS
from provenance.policies.known_works.prepare import open_reference, reference_copy


def _photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _reference(image: Image.Image) -> Image.Image:
    return open_reference(reference_copy(image), "ref")


def _confirmed(query: Image.Image, reference: Image.Image) -> bool:
    ref = extract(_reference(reference))
    return any(verify(q, ref).confirmed(MIN_INLIERS) for q in query_features(query))


def _crop(im: Image.Image, fraction: float, left: float, top: float) -> Image.Image:
    x, y = int(im.width * left), int(im.height * top)
    return im.crop((x, y, x + int(im.width * fraction), y + int(im.height * fraction)))


def _rotate(im: Image.Image, angle: float) -> Image.Image:
    return im.rotate(angle, resample=Image.Resampling.BICUBIC)


EDITS = {
    "mirror": ImageOps.mirror,
    "mirror + crop 70%": lambda im: _crop(ImageOps.mirror(im), 0.7, 0.1, 0.1),
    "rotate 13": lambda im: _rotate(im, 13),
    "rotate -11 + mirror": lambda im: ImageOps.mirror(_rotate(im, -11)),
    "crop 50%": lambda im: _crop(im, 0.5, 0.25, 0.2),
}


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("name", ["chelsea", "rocket"])
def test_edited_copies_are_confirmed(name: str, edit: str) -> None:
    photo = _photo(name)
    assert _confirmed(EDITS[edit](photo), photo)


@pytest.mark.parametrize(
    ("query", "reference"),
    [("chelsea", "rocket"), ("rocket", "chelsea"), ("brick", "chelsea"), ("text", "rocket"),
     ("grass", "gravel"), ("page", "text")],
)  # fmt: skip
def test_unrelated_pictures_are_never_confirmed(query: str, reference: str) -> None:
    assert not _confirmed(_photo(query), _photo(reference))
    assert not _confirmed(ImageOps.mirror(_photo(query)), _photo(reference))


def test_features_round_trip_through_bytes() -> None:
    features = extract(_photo("chelsea"))
    again = unpack_features(features.packed())
    assert np.array_equal(again.points, features.points)
    assert np.array_equal(again.descriptors, features.descriptors)
    assert (again.width, again.height) == (features.width, features.height)


def test_a_flat_image_has_no_features_and_matches_nothing() -> None:
    flat = Image.new("RGB", (200, 200), (120, 120, 120))
    assert len(extract(flat)) == 0
    assert not verify(extract(flat), extract(_photo("chelsea"))).confirmed(4)


def test_feature_index_votes_for_the_right_image() -> None:
    names = ["chelsea", "rocket", "coffee", "astronaut"]
    index = FeatureIndex.build([extract(_reference(_photo(n))) for n in names] + [None])
    assert index.images == 5
    for position, name in enumerate(names):
        query = query_features(EDITS["crop 50%"](_photo(name)))[0]
        assert index.candidates(query, top=1, min_votes=1)[0][0] == position
