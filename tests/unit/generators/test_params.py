"""Request parameters, seeds and sizes: the torch-free mechanics every family shares."""

from __future__ import annotations

import pytest
from pydantic import Field, field_validator

from provenance.errors import BadInputError
from provenance.generators._params import (
    MAX_IMAGES,
    MAX_SEED,
    RequestParams,
    chunks,
    fit_size,
    image_seeds,
    multiple_of_8,
    parse_params,
)


class Example(RequestParams):
    steps: int = Field(30, ge=1, le=500)
    width: int | None = Field(None, le=2048)

    _w = field_validator("width")(multiple_of_8)


def test_parse_params_fills_defaults_and_keeps_values() -> None:
    parsed = parse_params(Example, {"width": 64}, "diffusion")
    assert parsed.steps == 30
    assert parsed.width == 64


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stesp": 3}, "unknown parameter 'stesp'; known: steps, width"),
        ({"steps": 100000}, "parameter 'steps': Input should be less than or equal to 500"),
        ({"width": 100}, "parameter 'width': must be a multiple of 8 (e.g. 96) (got 100)"),
        ({"width": 100000}, "less than or equal to 2048 (got 100000)"),
    ],
)
def test_parse_params_errors_are_one_clear_line(params: dict[str, int], expected: str) -> None:
    with pytest.raises(BadInputError) as err:
        parse_params(Example, params, "diffusion")
    message = err.value.diagnostics()
    assert message.startswith("diffusion: ")
    assert expected in message
    assert "\n" not in message


def test_image_seeds_count_up_from_the_request_seed() -> None:
    assert image_seeds(41, 3) == [41, 42, 43]


def test_image_seeds_without_a_seed_are_fresh_and_consecutive() -> None:
    first, second = image_seeds(None, 2)
    assert second == first + 1
    assert 0 <= first < 2**32


@pytest.mark.parametrize(
    ("seed", "count"), [(-1, 1), (MAX_SEED + 1, 1), (1, 0), (1, MAX_IMAGES + 1)]
)
def test_image_seeds_refuse_out_of_range(seed: int, count: int) -> None:
    with pytest.raises(BadInputError):
        image_seeds(seed, count)


@pytest.mark.parametrize(
    ("size", "max_side", "multiple", "expected"),
    [
        ((160, 120), 2048, 8, (160, 120)),
        ((161, 121), 2048, 8, (160, 120)),
        ((4000, 2000), 2048, 8, (2048, 1024)),
        ((10, 10), 2048, 8, (8, 8)),
        ((1000, 10), 100, 4, (100, 4)),
    ],
)
def test_fit_size_scales_down_and_rounds_down(
    size: tuple[int, int], max_side: int, multiple: int, expected: tuple[int, int]
) -> None:
    assert fit_size(*size, max_side, multiple) == expected


def test_chunks_cover_every_item_in_order() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
