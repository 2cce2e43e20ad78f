"""CLIP text and image embeddings from a local open_clip checkpoint, never from a model hub.

Two policies lean on CLIP: `known_works` (image and text similarity to registered works) and
`prompt_safety` (text similarity to unsafe concepts).  No package ships CLIP weights, so the
studio points `[clip] checkpoint` at a file it trusts; when it does not, `from_settings`
returns None and each policy reports its CLIP layer as disabled instead of guessing.

Nothing here downloads: only a local file is ever passed to open_clip as `pretrained` (a tag
such as "openai" would make it fetch weights), hub schemas are refused, and architectures whose
text tower needs Hugging Face hub files are refused too.

    >>> encoder = ClipEncoder.from_settings(settings)  # doctest: +SKIP
    >>> encoder.encode_text(["a red fox"]).shape        # doctest: +SKIP
    (1, 512)

Loaded encoders are cached per process, keyed by the checkpoint's path, size and mtime, so a
CLI run or a worker pays the load once, and a replaced checkpoint is picked up.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from provenance.config import Settings

#: Name (and config file stem) of the tiny random-weight model used in tests.
TINY_MODEL_NAME = "provenant-tiny-clip"
TINY_MODEL_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
_TINY_SEED = 20240601
#: Images are embedded in batches of this many, bounding peak memory on large imports.
IMAGE_BATCH = 32
TEXT_BATCH = 256

_cache: dict[tuple[Any, ...], ClipEncoder] = {}
_cache_lock = threading.Lock()


def _load_errors() -> tuple[type[BaseException], ...]:
    """What torch, safetensors and open_clip raise on a corrupt or mismatched checkpoint."""
    from safetensors import SafetensorError

    return (
        RuntimeError,
        ValueError,
        KeyError,
        OSError,
        EOFError,
        pickle.UnpicklingError,
        SafetensorError,
    )


@dataclass(frozen=True)
class _Source:
    """Where an encoder comes from; also its cache key (mtimes catch replaced files)."""

    checkpoint: Path
    model_name: str
    config: Path | None

    def cache_key(self) -> tuple[Any, ...]:
        stat = self.checkpoint.stat()
        cfg = (str(self.config), self.config.stat().st_mtime_ns) if self.config else None
        return (str(self.checkpoint), stat.st_size, stat.st_mtime_ns, self.model_name, cfg)


class ClipEncoder:
    """A loaded open_clip model that turns texts and images into unit-length float32 vectors.

    Rows of `encode_text` and `encode_images` live in one space, so a dot product between any
    two of them is their cosine similarity.
    """

    def __init__(
        self,
        model: Any,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        source: _Source,
        dim: int,
    ) -> None:
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._lock = threading.Lock()
        self.checkpoint = source.checkpoint
        self.model_name = source.model_name
        self.dim = dim
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """`<architecture>:<sha256 prefix of the weights>`: which model made an embedding.

        Stored beside every embedding, so vectors from different checkpoints are never
        compared with each other (they live in unrelated spaces).
        """
        if self._fingerprint is None:
            digest = hashlib.sha256()
            with self.checkpoint.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            self._fingerprint = f"{self.model_name}:{digest.hexdigest()[:16]}"
        return self._fingerprint

    @classmethod
    def from_settings(cls, settings: Settings) -> ClipEncoder | None:
        """The encoder configured in `[clip]`, or None when no checkpoint is configured.

        A configured checkpoint that is missing or broken is an error naming the file, never
        a silent None: a studio that asked for CLIP screening must know it is not running.
        """
        clip = settings.clip
        if clip.checkpoint is None:
            return None
        return cls.load(clip.checkpoint, architecture=clip.architecture, config=clip.config)

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        architecture: str = "ViT-B-32",
        config: str | Path | None = None,
    ) -> ClipEncoder:
        """Load (or reuse) the encoder for a local checkpoint file.

        With `config` (an open_clip model config JSON) the architecture is that file's stem;
        otherwise `architecture` names one of open_clip's built-in configs.
        """
        source = _resolve_source(Path(checkpoint), architecture, Path(config) if config else None)
        key = source.cache_key()
        with _cache_lock:
            cached = _cache.get(key)
            if cached is None:
                cached = _cache[key] = _build(source)
            return cached

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: an (n, dim) float32 array with L2-normalised rows."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), TEXT_BATCH):
                tokens = self._tokenizer([str(t) for t in texts[start : start + TEXT_BATCH]])
                chunks.append(self._model.encode_text(tokens).float())
        return _unit_rows(torch.cat(chunks).numpy())

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed images (any mode; converted to RGB): an (n, dim) float32, L2-normalised array."""
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(images), IMAGE_BATCH):
                batch = [self._preprocess(_rgb(img)) for img in images[start : start + IMAGE_BATCH]]
                chunks.append(self._model.encode_image(torch.stack(batch)).float())
        return _unit_rows(torch.cat(chunks).numpy())

    def __repr__(self) -> str:
        return f"ClipEncoder({self.model_name!r}, dim={self.dim}, checkpoint={self.checkpoint})"


def load_optional(settings: Settings) -> tuple[ClipEncoder | None, str | None]:
    """(encoder, None), or (None, why) when CLIP is not configured or its weights cannot load.

    For layers that can run without CLIP: they report themselves disabled with `why`
    instead of failing the whole screen.
    """
    try:
        encoder = ClipEncoder.from_settings(settings)
    except (ConfigError, WeightsError) as exc:
        return None, exc.diagnostics()
    if encoder is None:
        return None, "no CLIP checkpoint configured (set [clip] checkpoint)"
    return encoder, None


def clear_cache() -> None:
    """Forget loaded encoders (tests that rewrite a checkpoint in place)."""
    with _cache_lock:
        _cache.clear()


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero rather than becoming NaN)."""
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _resolve_source(checkpoint: Path, architecture: str, config: Path | None) -> _Source:
    """Check the files and the architecture name before any model code runs."""
    checkpoint = checkpoint.expanduser().absolute()
    if not checkpoint.is_file():
        raise WeightsError(f"clip.checkpoint {checkpoint}: file not found")
    if config is None:
        if ":" in architecture or "/" in architecture:
            raise ConfigError(
                f"clip.architecture {architecture!r}: hub or path names are not accepted; "
                "name a built-in open_clip architecture or set clip.config"
            )
        return _Source(checkpoint, architecture, None)
    config = config.expanduser().absolute()
    _read_model_config(config)
    return _Source(checkpoint, config.stem, config)


def _read_model_config(path: Path) -> dict[str, Any]:
    """Parse an open_clip model config JSON, refusing what would need a hub download."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"clip.config {path}: file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"clip.config {path}: not a readable JSON model config ({exc})") from exc
    if not isinstance(data, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(data):
        raise ConfigError(f"clip.config {path}: needs embed_dim, vision_cfg and text_cfg")
    _refuse_hub_towers(data, str(path))
    return data


def _refuse_hub_towers(model_cfg: dict[str, Any], where: str) -> None:
    text_cfg = model_cfg.get("text_cfg") or {}
    if text_cfg.get("hf_model_name") or text_cfg.get("hf_tokenizer_name"):
        raise ConfigError(
            f"{where}: this architecture's text tower needs Hugging Face hub files; "
            "only self-contained open_clip architectures can be loaded offline"
        )


def _build(source: _Source) -> ClipEncoder:
    """Create the model from its config and load the checkpoint into it (strictly)."""
    import open_clip

    if source.config is not None:
        open_clip.add_model_config(source.config)
    model_cfg = open_clip.get_model_config(source.model_name)
    if model_cfg is None:
        raise ConfigError(
            f"clip.architecture {source.model_name!r}: unknown open_clip architecture; "
            "set clip.config to a model config JSON"
        )
    _refuse_hub_towers(model_cfg, f"clip.architecture {source.model_name!r}")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            source.model_name, pretrained=str(source.checkpoint), device="cpu"
        )
    except _load_errors() as exc:
        detail = " ".join(str(exc).split())[:300]
        raise WeightsError(
            f"clip.checkpoint {source.checkpoint}: cannot load as {source.model_name} ({detail})"
        ) from exc
    model.eval()
    tokenizer = open_clip.get_tokenizer(source.model_name)
    dim = int(model_cfg["embed_dim"])
    return ClipEncoder(model, preprocess, tokenizer, source, dim)


def make_tiny_clip(directory: str | Path) -> tuple[Path, Path]:
    """Write a tiny, seeded, random-weight open_clip model: (checkpoint, model config JSON).

    The same call always writes byte-identical weights, so tests get deterministic embeddings
    without any real CLIP weights.  Its similarities carry no meaning; it exercises the code.
    """
    import open_clip
    import torch
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / f"{TINY_MODEL_NAME}.json"
    config_path.write_text(json.dumps(TINY_MODEL_CONFIG, indent=2, sort_keys=True) + "\n")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_TINY_SEED)
        model = open_clip.CLIP(**json.loads(config_path.read_text()))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    checkpoint = out / f"{TINY_MODEL_NAME}.safetensors"
    save_file(state, str(checkpoint))
    return checkpoint, config_path
