"""Value types that cross package boundaries: requests, images, model cards, attributions.

These are plain frozen dataclasses so that generators, policies and the signing path can
share them without importing each other (or torch).  Pixels travel as `PIL.Image.Image`
in RGB mode; converting tensors is the generators' business (`generators/_torch.py`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL import Image

#: The declared use of a request, checked against model licences (`model_license` policy).
Use = Literal["commercial", "internal", "research"]
USES: tuple[str, ...] = ("commercial", "internal", "research")

#: How an input image relates to the output (C2PA ingredient relationship).
Relationship = Literal["parentOf", "inputTo", "componentOf"]


def new_id(prefix: str) -> str:
    """A random, URL- and filename-safe identifier such as `req_3f2a...` (never from user text)."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class InputImage:
    """An image the user supplied (init or style image): becomes a C2PA ingredient.

    `sha256` is the digest of the file bytes as given, so the ingredient names exactly the
    file the studio used.
    """

    path: Path
    relationship: Relationship
    sha256: str
    format: str  # MIME type, e.g. "image/png"
    title: str

    @classmethod
    def from_path(cls, path: str | Path, relationship: Relationship) -> InputImage:
        """Describe a file on disk; the MIME type comes from its bytes, not its name."""
        from provenance.imageio import sniff_mime

        p = Path(path)
        data = _read_input(p)
        return cls(
            path=p,
            relationship=relationship,
            sha256=hashlib.sha256(data).hexdigest(),
            format=sniff_mime(data, p),
            title=p.name,
        )

    def open_rgb(self) -> Image.Image:
        """Decode the image safely (size limits enforced) as RGB pixels."""
        from provenance.imageio import open_image

        return open_image(self.path).convert("RGB")


def _read_input(path: Path) -> bytes:
    from provenance.errors import BadInputError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read input image ({exc.strerror or exc})") from exc


@dataclass(frozen=True)
class ModelInfo:
    """The model card that travels into every manifest and ledger row.

    `permitted_uses` is the machine-readable reading of `license`: the `model_license`
    policy compares it with a request's declared use (e.g. DigiFace-1M models: research only).
    """

    name: str
    version: str
    architecture: str
    license: str
    training_data: str
    weights_sha256: str
    permitted_uses: tuple[str, ...] = USES
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def external(cls, name: str = "external", license: str = "unknown") -> ModelInfo:
        """The card of an image no generator of ours made (`sign`, inputs being screened):
        what the studio declares about its model, and nothing we cannot know."""
        return cls(
            name=name,
            version="",
            architecture="unknown (generated outside Provenant)",
            license=license,
            training_data="unknown",
            weights_sha256="",
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used in the manifest and the ledger."""
        return {
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "license": self.license,
            "training_data": self.training_data,
            "weights_sha256": self.weights_sha256,
            "permitted_uses": list(self.permitted_uses),
            "source": self.source,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class GenerationRequest:
    """One thing a studio asks for.  Output file names come from `request_id`, never the prompt."""

    prompt: str
    generator: str
    request_id: str = field(default_factory=lambda: new_id("req"))
    model: str | None = None
    negative_prompt: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    num_images: int = 1
    init_image: InputImage | None = None
    style_image: InputImage | None = None
    #: Inpainting: white where the init image is to be repainted (an `inputTo` ingredient).
    mask_image: InputImage | None = None
    requester: str | None = None
    project: str | None = None
    license: str | None = None
    use: str | None = None
    #: Filled by the pipeline from the generator before screening (the `model_license`
    #: policy compares it with `use`); never supplied by users.
    model_card: ModelInfo | None = None

    @property
    def input_images(self) -> list[InputImage]:
        """Init, style and mask images, in manifest order (parent first)."""
        images = (self.init_image, self.style_image, self.mask_image)
        return [img for img in images if img is not None]

    def with_seed(self, seed: int) -> GenerationRequest:
        """A copy with a concrete seed, so a recorded request reproduces its output."""
        return replace(self, seed=seed)

    def with_model_card(self, card: ModelInfo) -> GenerationRequest:
        """A copy carrying the generator's model card, for licence screening."""
        return replace(self, model_card=card)


@dataclass(frozen=True)
class GeneratedImage:
    """One output of a generator, before screening and signing.

    `params` holds the resolved parameters that reproduce this exact image (steps, size,
    scheduler, truncation, device, dtype...): they go into the manifest and the ledger.
    """

    pixels: Image.Image
    seed: int
    index: int
    model_info: ModelInfo
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.size


@dataclass(frozen=True)
class Attribution:
    """A known work credited on an output (licensed match) or named in a refusal."""

    work_id: str
    title: str
    creator: str
    license: str
    score: float
    method: str  # "name", "clip_text", "clip_image", "phash", "dhash"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used in the attribution assertion and the ledger."""
        return {
            "work_id": self.work_id,
            "title": self.title,
            "creator": self.creator,
            "license": self.license,
            "score": round(float(self.score), 6),
            "method": self.method,
        }
