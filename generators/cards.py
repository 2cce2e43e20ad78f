"""Model cards: what a model is, who may use it for what, and the digest of its weights.

A card travels into every manifest and ledger row (`provenance.types.ModelInfo`), and the
`model_license` policy reads its `permitted_uses` before anything is loaded, so building a
card must be cheap and must not import torch: it reads `model_card.json` (when the model
directory has one) and the weights digest, which is cached.

Digest.  One file: the plain SHA-256 of its bytes (what `sha256sum FILE` prints).  Several
files (a diffusers directory, a DCGAN's weights + config): the SHA-256 of the text that
`sha256sum` would print for them, one `"<hex>  <relative/path>\\n"` line per file sorted by
path, so an auditor can recompute it with standard tools.  Per-file digests are cached in
`<cache_dir>/weights-digests.json` keyed by (absolute path, mtime_ns, size), so multi-GB
weights are hashed once, not on every run.  The cache is rewritten through a temp file and a
rename, merged with what other processes wrote meanwhile, so concurrent runs cannot corrupt
it (at worst one recomputes a digest).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance.errors import ConfigError, ProvenantError, WeightsError
from provenance.types import USES, ModelInfo, Use

log = logging.getLogger(__name__)

MODEL_CARD_NAME = "model_card.json"
DIGEST_CACHE_NAME = "weights-digests.json"
#: Licence text for models without a card: the pipeline warns on it.
UNKNOWN = "unknown"
#: Files that define a model (weights, configs, tokenizers); anything else in a model
#: directory (READMEs, images, notes, the card itself) does not change its digest.
MODEL_FILE_SUFFIXES = frozenset(
    {".json", ".safetensors", ".bin", ".txt", ".model", ".onnx", ".pt", ".pth", ".ckpt", ".tar"}
)
_CHUNK = 1 << 20
M = TypeVar("M", bound=BaseModel)


class ModelCard(BaseModel):
    """The contents of a `model_card.json`: licence and training data for a model.

    `permitted_uses` is the machine-readable reading of `license` (e.g. a non-commercial
    research licence -> `["research"]`); it defaults to every use, as for unknown licences,
    and the `model_license` policy warns whenever `license` is "unknown".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = UNKNOWN
    architecture: str = UNKNOWN
    license: str = UNKNOWN
    training_data: str = UNKNOWN
    permitted_uses: tuple[Use, ...] = cast("tuple[Use, ...]", USES)
    source: str = ""
    extra: dict[str, Any] = {}

    def to_info(self, weights_sha256: str) -> ModelInfo:
        """The `ModelInfo` that goes into manifests, with the weights digest filled in."""
        return ModelInfo(
            name=self.name,
            version=self.version,
            architecture=self.architecture,
            license=self.license,
            training_data=self.training_data,
            weights_sha256=weights_sha256,
            permitted_uses=tuple(self.permitted_uses),
            source=self.source,
            extra=dict(self.extra),
        )


def read_model_card(model_dir: Path) -> ModelCard | None:
    """The card in `model_dir/model_card.json`, or None when the directory has none."""
    path = model_dir / MODEL_CARD_NAME
    if not path.is_file():
        return None
    return read_json_model(path, ModelCard, "model card", ConfigError)


def read_json_model(path: Path, model: type[M], what: str, error: type[ProvenantError]) -> M:
    """A JSON file validated against `model`; problems are one `error` line naming the file
    and the first bad field (model cards, configs saved beside weights)."""
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise error(f"{path}: bad {what}: {where}: {err['msg']}") from exc


def write_model_card(model_dir: Path, card: ModelCard) -> Path:
    """Write `card` as `model_dir/model_card.json` (stable key order, for identical bytes)."""
    path = model_dir / MODEL_CARD_NAME
    text = json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def card_or_default(model_dir: Path, default: ModelCard) -> ModelCard:
    """The model's own card, else `default` (licence "unknown" for a user's model)."""
    return read_model_card(model_dir) or default


def model_files(root: Path) -> list[Path]:
    """Every file under `root` that defines the model, sorted (hidden paths skipped)."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name == MODEL_CARD_NAME:
            continue
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class DigestCache:
    """Per-file SHA-256 digests, cached on disk by (path, mtime_ns, size).

    `cache_file` None keeps the cache in memory only (library use without a data dir).
    """

    def __init__(self, cache_file: Path | None) -> None:
        self.cache_file = cache_file
        self._entries: dict[str, dict[str, Any]] = self._read()
        self._dirty = False

    def file_sha256(self, path: Path) -> str:
        """The SHA-256 of one file, from the cache when the file has not changed."""
        key = str(path.resolve())
        try:
            stat = path.stat()
        except OSError as exc:
            raise WeightsError(f"{path}: cannot read weights ({exc.strerror or exc})") from exc
        entry = self._entries.get(key)
        if (
            entry
            and entry.get("mtime_ns") == stat.st_mtime_ns
            and entry.get("size") == stat.st_size
        ):
            return str(entry["sha256"])
        digest = hash_file(path)
        self._entries[key] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "sha256": digest}
        self._dirty = True
        return digest

    def digest(self, files: Iterable[Path], root: Path | None = None) -> str:
        """The model digest over `files` (see the module docstring), then save the cache."""
        paths = list(files)
        if not paths:
            raise WeightsError(f"{root or '?'}: no weight files to digest")
        try:
            if len(paths) == 1 and root is None:
                return self.file_sha256(paths[0])
            base = root or paths[0].parent
            named = sorted((p.relative_to(base).as_posix(), p) for p in paths)
            lines = "".join(f"{self.file_sha256(p)}  {rel}\n" for rel, p in named)
            return hashlib.sha256(lines.encode("utf-8")).hexdigest()
        finally:
            self.save()

    def save(self) -> None:
        """Write new digests, merged with entries other processes added meanwhile."""
        if not self._dirty or self.cache_file is None:
            return
        merged = {**self._read(), **self._entries}
        tmp = self.cache_file.with_name(f".{self.cache_file.name}.{os.getpid()}.{uuid.uuid4().hex}")
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(merged, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.cache_file)
            self._dirty = False
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("weights digest cache %s not written: %s", self.cache_file, exc)

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.cache_file is None:
            return {}
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable weights digest cache %s: %s", self.cache_file, exc)
            return {}
        return data if isinstance(data, dict) else {}


def hash_file(path: Path) -> str:
    """Stream a file through SHA-256 (1 MiB at a time; weights can be many GB)."""
    sha = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror or exc})") from exc
    return sha.hexdigest()


def digest_cache_for(cache_dir: Path | None) -> DigestCache:
    """The digest cache kept in a settings' cache dir (`settings.cache_dir`)."""
    return DigestCache(cache_dir / DIGEST_CACHE_NAME if cache_dir is not None else None)
