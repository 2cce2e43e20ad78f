"""Diffusion generator: any diffusers text-to-image pipeline from a local directory.

`DiffusionPipeline.from_pretrained(dir, local_files_only=True)` with the hub switched off;
the directory is checked first (model_index.json, each component folder, config and weight
files, safetensors headers) so a missing or broken part is one line naming it, not a stack
trace from deep inside diffusers.  Image-to-image reuses the loaded components through
`AutoPipelineForImage2Image.from_pipe`.

Per-request parameters (`request.params`): steps, guidance, width, height (multiples of 8, at
most 2048), scheduler (a name from `SCHEDULERS`), strength (image-to-image only).  Options
(`[generators.diffusion]`): model, scheduler (default name), batch_size, compile, variant.

Seeds: image i of a request uses seed `request.seed + i` through its own
`torch.Generator(device).manual_seed(seed)` (CUDA generator on CUDA, CPU generator
otherwise); diffusers draws that image's initial latents (and any ancestral-sampler noise)
from it.  With the default `batch_size = 1` every image is computed alone, so each one
reproduces bit for bit from its recorded seed and params; larger batches are faster on a GPU
but batched kernels may differ in the last float bits.

The diffusers safety checker is not loaded: Provenant's `output_safety` policy screens every
output instead, and a warning says so whenever a pipeline ships one.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from PIL.Image import Resampling
from pydantic import Field, field_validator

from provenance.errors import BadInputError, GenerationError, ProvenantError, WeightsError
from provenance.generators._diffusers_layout import inspect_diffusers_dir
from provenance.generators._params import (
    MAX_SIDE,
    FamilyOptions,
    RequestParams,
    chunks,
    fit_size,
    image_seeds,
    multiple_of_8,
    parse_params,
)
from provenance.generators._plugin import LocalModelGenerator
from provenance.generators.cards import ModelCard, card_or_default, model_files
from provenance.generators.locate import ModelLocation
from provenance.types import GeneratedImage, GenerationRequest, ModelInfo

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Scheduler names users type -> (diffusers class, extra config); built with `from_config`.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),  # as Stable Diffusion ships it
    "unipc": ("UniPCMultistepScheduler", {}),
}
#: What `from_pretrained` raises for files it cannot use (after our own checks passed).
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    RuntimeError,
    KeyError,
    AttributeError,
    ImportError,
)
#: Failures inside a pipeline call: diffusers validates inputs with ValueError (e.g. too few
#: steps for a scheduler), anything else (out of memory, kernels) is a generation failure.
_RUN_ERROR_TABLE: tuple[tuple[type[BaseException], type[ProvenantError]], ...] = (
    (ValueError, BadInputError),
    (RuntimeError, GenerationError),
)
_RUN_ERRORS = tuple(cls for cls, _ in _RUN_ERROR_TABLE)


def _dtype_keyword(diffusers: Any) -> str:
    """`dtype` on diffusers versions that renamed `torch_dtype`, `torch_dtype` before."""
    renamed = hasattr(diffusers.utils.deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    return "dtype" if renamed else "torch_dtype"


def _check_scheduler(value: str | None) -> str | None:
    if value is not None and value not in SCHEDULERS:
        raise ValueError(f"unknown scheduler; choose one of {', '.join(SCHEDULERS)}")
    return value


class DiffusionOptions(FamilyOptions):
    """Request-independent settings of the diffusion plugin."""

    scheduler: str | None = None
    batch_size: int = Field(1, ge=1, le=16)
    compile: bool = False
    variant: str | None = None  # e.g. "fp16" for diffusion_pytorch_model.fp16.safetensors

    _scheduler = field_validator("scheduler")(_check_scheduler)


class DiffusionParams(RequestParams):
    """Per-request parameters; sizes and step counts are bounded so a typo cannot hang a GPU."""

    steps: int = Field(30, ge=1, le=500)
    guidance: float = Field(7.5, ge=0.0, le=50.0)
    width: int | None = Field(None, ge=8, le=MAX_SIDE)
    height: int | None = Field(None, ge=8, le=MAX_SIDE)
    scheduler: str | None = None
    strength: float = Field(0.75, gt=0.0, le=1.0)

    _sizes = field_validator("width", "height")(multiple_of_8)
    _scheduler = field_validator("scheduler")(_check_scheduler)


def make_scheduler(name: str | None, config: Any, default_class: Any) -> Any:
    """A fresh scheduler for one call: `name` from `SCHEDULERS`, or the pipeline's own."""
    if name is None:
        return default_class.from_config(config)
    import diffusers

    class_name, extra = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(config, **extra)


class DiffusionGenerator(LocalModelGenerator):
    """Text-to-image and image-to-image with a local diffusers pipeline."""

    name = "diffusion"
    sample_models = ("diffusion",)
    options_model = DiffusionOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pipe: Any = None
        self._img2img: Any = None
        self._inpaint: Any = None
        self._dtype: Any = None
        self._scheduler: Any = None

    # -- card and checks ---------------------------------------------------------------------

    def _card(self) -> ModelCard:
        layout = inspect_diffusers_dir(self.location.path)
        default = ModelCard(
            name=layout.root.name, architecture=f"{layout.pipeline_class} (diffusers)"
        )
        return card_or_default(layout.root, default)

    def _digest_files(self) -> tuple[list[Path], Path | None]:
        root = self.location.path
        return model_files(root), root

    @classmethod
    def _inspect(cls, location: ModelLocation) -> str:
        layout = inspect_diffusers_dir(location.path)
        return f"{layout.pipeline_class} with {', '.join(sorted(layout.components))}"

    # -- loading -----------------------------------------------------------------------------

    def load(self, device: torch.device | str | None) -> None:
        """Load the pipeline from its directory onto `device` (fp32 on CPU)."""
        from provenance.generators._torch import (
            one_line,
            quiet_hf_progress,
            require_offline,
            select_dtype,
        )

        target = self._resolve_device(device)
        layout = inspect_diffusers_dir(self.location.path)
        require_offline()
        import diffusers

        quiet_hf_progress()
        dtype = select_dtype(self.settings.generators.dtype, target)
        kwargs: dict[str, Any] = {_dtype_keyword(diffusers): dtype, "local_files_only": True}
        if importlib.util.find_spec("accelerate") is None:
            kwargs["low_cpu_mem_usage"] = False  # the only choice without accelerate; say so
        if self.options.variant:
            kwargs["variant"] = self.options.variant
        if layout.has_safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
            log.warning(
                "%s: diffusers safety checker not loaded; outputs are screened by "
                "Provenant's output_safety policy instead",
                layout.root,
            )
        try:
            pipe = diffusers.DiffusionPipeline.from_pretrained(str(layout.root), **kwargs)
        except _LOAD_ERRORS as exc:
            raise WeightsError(f"{layout.root}: cannot load pipeline ({one_line(exc)})") from exc
        self.use_pipeline(pipe.to(target), target)

    def use_pipeline(self, pipe: Any, device: torch.device, info: ModelInfo | None = None) -> None:
        """Adopt an already-built diffusers pipeline (benchmarks, studio code) on `device`.

        `info` is its model card when there are no files to read one from.
        """
        import torch

        if info is not None:
            self._info = info
        pipe.set_progress_bar_config(disable=True)
        if self.options.compile:
            denoiser = "unet" if hasattr(pipe, "unet") else "transformer"
            setattr(pipe, denoiser, torch.compile(getattr(pipe, denoiser)))
        self._pipe, self._img2img, self._inpaint, self.device = pipe, None, None, device
        self._dtype = pipe.dtype
        self._scheduler = pipe.scheduler  # the model's own; each call gets a fresh copy
        attention = self.attention_processors()
        log.info("%s attention processors: %s", type(pipe).__name__, ", ".join(attention))
        if attention and not all(a.endswith("2_0") or "SDPA" in a for a in attention):
            log.warning("scaled-dot-product attention is not in use: %s", ", ".join(attention))

    def attention_processors(self) -> list[str]:
        """Class names of the attention processors of the loaded denoiser (SDPA expected)."""
        denoiser = getattr(self._pipe, "unet", None)
        if denoiser is None:  # not `or`: a compiled module refuses truth tests
            denoiser = getattr(self._pipe, "transformer", None)
        processors = getattr(denoiser, "attn_processors", None) or {}
        return sorted({type(p).__name__ for p in processors.values()})

    def _image_to_image(self) -> Any:
        if self._img2img is None:
            from diffusers import AutoPipelineForImage2Image

            try:
                self._img2img = AutoPipelineForImage2Image.from_pipe(self._pipe)
            except ValueError as exc:
                raise BadInputError(
                    f"{type(self._pipe).__name__} has no image-to-image variant in diffusers"
                ) from exc
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    def _inpainting(self) -> Any:
        """The inpainting variant of the loaded pipeline (same components, made once)."""
        if self._inpaint is None:
            from diffusers import AutoPipelineForInpainting

            try:
                self._inpaint = AutoPipelineForInpainting.from_pipe(self._pipe)
            except ValueError as exc:
                raise BadInputError(
                    f"{type(self._pipe).__name__} has no inpainting variant in diffusers"
                ) from exc
            self._inpaint.set_progress_bar_config(disable=True)
        return self._inpaint

    # -- generation ----------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """Run the pipeline once per image (or per batch), each with its own seeded generator."""
        params = parse_params(DiffusionParams, request.params, self.name)
        if request.init_image is None and "strength" in request.params:
            raise BadInputError(
                f"{self.name}: strength applies to image-to-image; give an init image"
            )
        if request.style_image is not None:
            raise BadInputError(f"{self.name}: takes no style image (use style_transfer)")
        if request.mask_image is not None and request.init_image is None:
            raise BadInputError(f"{self.name}: a mask needs the image it masks (--init)")
        seeds = image_seeds(request.seed, request.num_images)
        device = self._ensure_loaded()
        init = request.init_image.open_rgb() if request.init_image is not None else None
        if init is not None and int(params.steps * params.strength) < 1:
            raise BadInputError(
                f"{self.name}: strength {params.strength} of {params.steps} steps leaves no "
                "denoising step; raise steps or strength"
            )
        mask = request.mask_image.open_rgb().convert("L") if request.mask_image else None
        if mask is None:
            pipe = self._image_to_image() if init is not None else self._pipe
        else:
            pipe = self._inpainting()
        width, height = self._size(params, init)
        call = self._call_kwargs(pipe, request, params, init, (width, height))
        if mask is not None:
            size = (width, height)
            call["mask_image"] = (
                mask if mask.size == size else mask.resize(size, Resampling.NEAREST)
            )
        scheduler = params.scheduler or self.options.scheduler
        base = self._scheduler
        info = self.model_info()
        shared = self._record(pipe, call, scheduler, (width, height), init, device)
        images: list[GeneratedImage] = []
        for batch in chunks(seeds, self.options.batch_size):
            # a fresh scheduler per batch: no state carries over from earlier requests
            pipe.scheduler = make_scheduler(scheduler, base.config, type(base))
            for pixels, seed in zip(self._run(pipe, call, batch, request), batch, strict=True):
                record = {**shared, "seed": seed, "scheduler_class": type(pipe.scheduler).__name__}
                images.append(GeneratedImage(pixels, seed, len(images), info, record))
        return images

    def _run(
        self, pipe: Any, call: dict[str, Any], seeds: list[int], request: GenerationRequest
    ) -> list[Image.Image]:
        import torch

        from provenance.generators._torch import one_line, seeded_generator

        assert self.device is not None
        kwargs = dict(call, generator=[seeded_generator(seed, self.device) for seed in seeds])
        if request.negative_prompt:
            kwargs["negative_prompt"] = [request.negative_prompt] * len(seeds)
        try:
            with torch.inference_mode():
                result = pipe(prompt=[request.prompt] * len(seeds), **kwargs)
        except _RUN_ERRORS as exc:
            error = next(err for cls, err in _RUN_ERROR_TABLE if isinstance(exc, cls))
            raise error(f"{self.name}: {type(pipe).__name__} failed: {one_line(exc)}") from exc
        return [image.convert("RGB") for image in result.images]

    def _size(self, params: DiffusionParams, init: Image.Image | None) -> tuple[int, int]:
        """Requested size; else the init image's (fit to 2048, multiple of 8); else native."""
        if init is not None:
            native = fit_size(init.width, init.height, MAX_SIDE, 8)
        else:
            native = (self._native_side(), self._native_side())
        return params.width or native[0], params.height or native[1]

    def _native_side(self) -> int:
        """The size the model was trained at (sample size x VAE scale), as diffusers picks."""
        sample = getattr(self._pipe, "default_sample_size", None)
        if sample is None:
            unet = getattr(self._pipe, "unet", None)
            sample = unet.config.sample_size if unet is not None else 64
        return int(sample) * int(getattr(self._pipe, "vae_scale_factor", 8))

    def _call_kwargs(
        self,
        pipe: Any,
        request: GenerationRequest,
        params: DiffusionParams,
        init: Image.Image | None,
        size: tuple[int, int],
    ) -> dict[str, Any]:
        """Arguments for this pipeline's `__call__`, keeping only those it accepts."""
        accepted = inspect.signature(pipe.__call__).parameters
        if "prompt" not in accepted:
            raise BadInputError(f"{type(pipe).__name__} takes no text prompt; not supported")
        wanted: dict[str, Any] = {
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance,
            "width": size[0],
            "height": size[1],
            "output_type": "pil",
        }
        if init is not None:
            resized = init if init.size == size else init.resize(size, Resampling.LANCZOS)
            wanted.update(image=resized, strength=params.strength)
        if request.negative_prompt and "negative_prompt" not in accepted:
            raise BadInputError(f"{type(pipe).__name__} takes no negative prompt")
        return {k: v for k, v in wanted.items() if k in accepted}

    def _record(
        self,
        pipe: Any,
        call: dict[str, Any],
        scheduler: str | None,
        size: tuple[int, int],
        init: Image.Image | None,
        device: torch.device,
    ) -> dict[str, Any]:
        """The resolved parameters shared by every image of this request."""
        from provenance.generators._torch import dtype_name, generator_device

        scale = int(getattr(pipe, "vae_scale_factor", 8))
        channels = getattr(getattr(getattr(pipe, "unet", None), "config", None), "in_channels", 4)
        record: dict[str, Any] = {
            "mode": "inpaint" if "mask_image" in call else "img2img" if init else "txt2img",
            "pipeline": type(pipe).__name__,
            "steps": call.get("num_inference_steps"),
            "guidance": call.get("guidance_scale"),
            "width": size[0],
            "height": size[1],
            "scheduler": scheduler or "default",
            "latents": {
                "drawn": "noise added to the encoded init image"
                if init is not None
                else "initial latents",
                "shape": [1, channels, size[1] // scale, size[0] // scale],
                "sampler": "diffusers randn_tensor with "
                f"torch.Generator('{generator_device(device)}').manual_seed(seed)",
            },
            "batch_size": self.options.batch_size,
            "device": str(device),
            "dtype": dtype_name(self._dtype),
            "attention": self.attention_processors(),
            "compiled": self.options.compile,
        }
        if init is not None:
            record.update(strength=call.get("strength"), init_size=list(init.size))
        return record
