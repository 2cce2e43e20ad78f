"""Torch-free request mechanics shared by every family: typed parameters, seeds, sizes.

Kept apart from `_torch.py` so that plugin modules can declare their option and parameter
models at import time without importing torch (`provenant generators list` and licence
screening stay fast).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance.errors import BadInputError

#: Largest side of any generated image: beyond this a request is refused, not attempted.
MAX_SIDE = 2048
#: Most images one request may ask for.
MAX_IMAGES = 64
#: Seeds are unsigned 64-bit (torch.Generator.manual_seed's range), minus room for `+ i`.
MAX_SEED = 2**63 - 1 - MAX_IMAGES

P = TypeVar("P", bound=BaseModel)


class RequestParams(BaseModel):
    """Base of each family's per-request parameters: typed, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FamilyOptions(BaseModel):
    """Base of each family's construction options (`[generators.<name>]` + CLI options).

    `model` may sit in the option table (`[generators.gan] model = "..."`); the constructor's
    explicit `model` argument wins over it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None


def parse_params(model: type[P], params: Mapping[str, Any], where: str) -> P:
    """Validate a request's parameters; any problem is one `BadInputError` line.

    Unknown keys are named together with the accepted ones, so a typo (`stesp`) is obvious.
    """
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise BadInputError(f"{where}: {_describe(exc, model)}") from exc


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "params"
    if err["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return f"unknown parameter {key!r}; known: {known}"
    message = err["msg"].removeprefix("Value error, ")
    return f"parameter {key!r}: {message} (got {err.get('input')!r})"


def multiple_of_8(value: int | None) -> int | None:
    """Validator body: latent-space models need sides divisible by 8."""
    if value is not None and value % 8:
        raise ValueError(f"must be a multiple of 8 (e.g. {max(8, value // 8 * 8)})")
    return value


def image_seeds(seed: int | None, num_images: int) -> list[int]:
    """Per-image seeds: image i of a request uses `seed + i`, so each reproduces alone.

    A request without a seed (library callers; the pipeline always fills one) gets a fresh
    random one, which is recorded like any other.
    """
    if not 1 <= num_images <= MAX_IMAGES:
        raise BadInputError(f"num_images must be between 1 and {MAX_IMAGES}, got {num_images}")
    if seed is None:
        seed = secrets.randbelow(2**32)
    if not 0 <= seed <= MAX_SEED:
        raise BadInputError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return [seed + i for i in range(num_images)]


def fit_size(width: int, height: int, max_side: int, multiple: int) -> tuple[int, int]:
    """Scale (width, height) down to fit `max_side`, then round down to `multiple`.

    Networks with pooling/upsampling stages need sides divisible by their total stride;
    rounding down (not up) never invents pixels the input did not have.
    """
    scale = min(1.0, max_side / max(width, height))
    w = max(multiple, int(width * scale) // multiple * multiple)
    h = max(multiple, int(height * scale) // multiple * multiple)
    return w, h


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    """Consecutive slices of `items`, each at most `size` long."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
