"""The plugin contracts, in one small file (DESIGN.md "Contracts").

Plugins are plain classes registered under entry-point groups; `provenance.plugins` checks
at load time that a class provides these members, so a mismatch fails when the plugin is
loaded, not at first use.

A policy may also provide `layers() -> Sequence[LayerStatus]` (see `LayerStatus`): the
layers that depend on a model, and whether each can run here.  A generator may also provide
the hooks of `GeneratorExtras` (sample models, model detection, the configured model), which
`provenance.catalog` uses so that the core never imports a generator's modules.

Besides classes, a plugin distribution may contribute CLI commands (`provenant.commands`:
name -> a `typer.Typer`) and Alembic revisions (`provenant.migrations`: name -> a package
holding them); see `provenance.cli.app` and `provenance.ledger.migrate`.

Construction, by kind:
  * generator: ``cls(model: str | Path | None, options: Mapping[str, Any], settings: Settings)``
  * policy:    ``cls(options: Mapping[str, Any], context: PolicyContext)``
  * signer:    ``cls(settings: Settings)``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from provenance.types import GeneratedImage, GenerationRequest, ModelInfo
from provenance.verdict import Verdict

if TYPE_CHECKING:
    import torch

    from provenance.config import Settings


@runtime_checkable
class Generator(Protocol):
    """Turns a request into images.  Heavy imports (torch, diffusers) happen inside `load`."""

    name: ClassVar[str]
    version: ClassVar[str]

    def load(self, device: torch.device) -> None:
        """Load weights onto `device`; raise `WeightsError` naming what is missing."""

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Produce `request.num_images` images, one seed each, deterministic per seed."""

    def model_info(self) -> ModelInfo:
        """The model card (licence, training data, weights digest) for the manifest."""

    @classmethod
    def check_weights(cls, model: str | Path | None) -> WeightsStatus:
        """Whether weights for `model` are present, without loading them."""


@runtime_checkable
class GeneratorExtras(Protocol):
    """Optional generator hooks; a plugin without them still generates, it only does less
    in `models make-tiny`, `models info` (detection) and `generators list`."""

    @classmethod
    def make_sample_models(cls, directory: Path) -> dict[str, Path]:
        """Write tiny random-weight models under `directory` (label -> path to pass as
        `model`; the first is the default sample).  For tests, demos and laptops."""

    @classmethod
    def recognises(cls, model: str) -> bool:
        """Whether `model` (a preset name or a path) is one this generator runs."""

    @classmethod
    def configured_model(cls, settings: Settings) -> str | None:
        """The model the settings configure for this generator (None: none)."""


#: Optional members: checked to be callable when present.
OPTIONAL_MEMBERS: dict[str, tuple[str, ...]] = {
    "generator": ("make_sample_models", "recognises", "configured_model"),
    "policy": ("layers",),
    "signer": (),
}


@dataclass(frozen=True)
class WeightsStatus:
    """What `provenant generators list` shows about a plugin's configured weights."""

    present: bool
    detail: str


@dataclass(frozen=True)
class LayerStatus:
    """Whether one screening layer of a policy can run on this machine.

    Policies that have layers depending on a model the machine may lack (CLIP, Open-NSFW)
    report them through an optional `layers()` method; the pipeline refuses to generate or
    sign while a layer cannot run, unless `[policies] degraded` names it (see `PolicySet`).
    `layer` is that name (`<policy>.<layer>`), `needs` the model the layer runs on, and
    `detail` why it cannot run (empty when `ready`).
    """

    layer: str
    ready: bool
    needs: str
    detail: str = ""

    def describe(self) -> str:
        """One phrase: what is missing and why (`needs a CLIP checkpoint: file not found`)."""
        return f"needs {self.needs}: {self.detail}" if self.detail else f"needs {self.needs}"


@runtime_checkable
class Policy(Protocol):
    """Screens prompts before generation and images after; returns verdicts, never raises."""

    name: ClassVar[str]
    version: ClassVar[str]

    def screen_prompt(self, request: GenerationRequest) -> Verdict:
        """Judge the request's text (and declared use) before anything is generated."""

    def screen_image(self, image: GeneratedImage, request: GenerationRequest) -> Verdict:
        """Judge a generated image (or an input image wrapped as one) before it is signed."""


@runtime_checkable
class SignerPlugin(Protocol):
    """Signs the C2PA claim bytes, e.g. through a KMS/HSM; the key never leaves it."""

    name: ClassVar[str]

    def algorithm(self) -> str:
        """COSE algorithm name as c2pa spells it: es256, es384, es512, ps256, ed25519."""

    def certificate_chain_pem(self) -> bytes:
        """Signing certificate first, then intermediates (no root), PEM."""

    def sign(self, data: bytes) -> bytes:
        """Raw signature over `data` (for ECDSA: r||s, fixed width, as COSE requires)."""


@dataclass
class PolicyContext:
    """What a policy may use besides its own options: settings and the ledger database."""

    settings: Settings
    ledger: Any = None  # provenance.ledger.Ledger, opened lazily by the pipeline


#: Members each plugin kind must provide; checked when the plugin loads.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "generator": ("name", "version", "load", "generate", "model_info", "check_weights"),
    "policy": ("name", "version", "screen_prompt", "screen_image"),
    "signer": ("name", "algorithm", "certificate_chain_pem", "sign"),
}
