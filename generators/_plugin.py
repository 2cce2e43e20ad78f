"""What every built-in generator plugin does the same way: construction, model card, device.

One thin base (no deeper stack): it validates the option table, resolves `--model` to local
files once, caches the model card, and turns `load(None)` into the configured device.  The
family classes add their own option/parameter models, weights checks, `load` and
`generate`.  Construction and `model_info()` never import torch, so the pipeline can screen
a prompt against the model licence before anything heavy happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from provenance import __version__
from provenance.config import validate_options
from provenance.errors import BadInputError, ProvenantError
from provenance.generators._params import FamilyOptions
from provenance.generators.cards import ModelCard, digest_cache_for
from provenance.generators.locate import ModelLocation, locate_model
from provenance.protocols import WeightsStatus
from provenance.types import GenerationRequest, ModelInfo

if TYPE_CHECKING:
    import torch

    from provenance.config import Settings


class LocalModelGenerator:
    """Base of the built-in generators: a model on local disk, loaded onto one device."""

    name: ClassVar[str]
    version: ClassVar[str] = __version__
    options_model: ClassVar[type[FamilyOptions]] = FamilyOptions
    #: Preset used when no model is configured (None: a model must be given).
    default_model: ClassVar[str | None] = None

    def __init__(
        self, model: str | Path | None, options: Mapping[str, Any], settings: Settings
    ) -> None:
        self.settings = settings
        self.options: Any = validate_options(
            self.options_model, options, f"[generators.{self.name}]"
        )
        from_config = model is None and self.options.model is not None
        self._requested = model if model is not None else self.options.model
        config_file = settings.config_file
        self._base_dir = config_file.parent if from_config and config_file else None
        self._location: ModelLocation | None = None
        self._info: ModelInfo | None = None
        self.device: torch.device | None = None

    # -- model files and card ----------------------------------------------------------------

    @property
    def location(self) -> ModelLocation:
        """The resolved model (path and preset), found once; `WeightsError` if absent."""
        if self._location is None:
            self._location = locate_model(
                self._requested, self.name, default=self._default_model(), base_dir=self._base_dir
            )
        return self._location

    def _default_model(self) -> str | None:
        """The preset to use when no model is configured (may depend on options)."""
        return self.default_model

    def model_info(self) -> ModelInfo:
        """The model card with the weights digest; reads files only (works before `load`)."""
        if self._info is None:
            card = self._card()
            files, root = self._digest_files()
            digest = digest_cache_for(self.settings.cache_dir).digest(files, root)
            extra = {"generator": self.name, **card.extra, **self._card_extra()}
            self._info = card.model_copy(update={"extra": extra}).to_info(digest)
        return self._info

    def _card(self) -> ModelCard:
        """The model's card (preset card, `model_card.json`, or an 'unknown licence' card)."""
        raise NotImplementedError

    def _digest_files(self) -> tuple[list[Path], Path | None]:
        """Files the weights digest covers, and the root their paths are relative to."""
        raise NotImplementedError

    def _card_extra(self) -> dict[str, Any]:
        """Family details added to the card's `extra` (e.g. the style method)."""
        return {}

    @classmethod
    def check_weights(cls, model: str | Path | None) -> WeightsStatus:
        """Whether weights for `model` are present and look sound, without loading them."""
        try:
            location = locate_model(model, cls.name, default=cls.default_model)
            detail = cls._inspect(location)
        except ProvenantError as exc:
            return WeightsStatus(present=False, detail=exc.diagnostics())
        return WeightsStatus(present=True, detail=detail)

    #: The tiny random-weight models (`generators.tiny`) this family writes as samples.
    sample_models: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def make_sample_models(cls, directory: Path) -> dict[str, Path]:
        """Write this family's tiny random-weight models under `directory` (the contract's
        optional hook); the first is the one to pass as `model` for a quick run."""
        from provenance.generators.tiny import make_tiny

        return make_tiny(directory, cls.sample_models) if cls.sample_models else {}

    @classmethod
    def recognises(cls, model: str) -> bool:
        """Whether `model` (a preset name or a path) is one this generator runs (optional hook).

        A model that cannot be located at all raises its one-line error."""
        from provenance.generators.catalog import runs_model

        return runs_model(cls.name, model)

    @classmethod
    def configured_model(cls, settings: Settings) -> str | None:
        """The model `[generators.<name>]` names, relative paths resolved against the config."""
        from provenance.generators.catalog import config_relative

        return config_relative(settings.generators.options_for(cls.name).get("model"), settings)

    @classmethod
    def _inspect(cls, location: ModelLocation) -> str:
        """Check the files of `location` (raise `WeightsError`); return a short description."""
        raise NotImplementedError

    # -- device ----------------------------------------------------------------------------

    def _resolve_device(self, device: torch.device | str | None) -> torch.device:
        """`load(None)` means the configured device (`[generators] device`, PROVENANT_DEVICE)."""
        from provenance.generators._torch import select_device

        return select_device(device if device is not None else self.settings.generators.device)

    def _ensure_loaded(self) -> torch.device:
        """Load on the configured device if the caller did not call `load` first."""
        if self.device is None:
            self.load(None)
        assert self.device is not None
        return self.device

    def load(self, device: torch.device | str | None) -> None:
        """Load weights onto `device` (None: the configured device)."""
        raise NotImplementedError

    def _refuse_inputs(self, request: GenerationRequest, what: str) -> None:
        """Families that sample from noise take no init or style image: say so, clearly."""
        if request.init_image is not None or request.style_image is not None:
            raise BadInputError(f"{self.name}: {what} takes no init or style image")
