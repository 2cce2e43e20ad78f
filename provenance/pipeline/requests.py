"""Turning user input (CLI options, batch lines) into validated `GenerationRequest`s.

One typed model describes a request as a user writes it; the CLI's single-request options
and each line of a `--batch` JSONL file go through it, so both paths accept and refuse the
same things with the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provenance.errors import BadInputError
from provenance.ids import new_request_id, validate_request_id
from provenance.types import GenerationRequest, InputImage

MAX_IMAGES_PER_REQUEST = 64
MAX_PROMPT_CHARS = 100_000


class RequestSpec(BaseModel):
    """A generation request as a user writes it (a batch line, or CLI options)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = None
    prompt: str = ""
    negative_prompt: str | None = None
    generator: str | None = None
    model: str | None = None
    n: int = Field(1, ge=1, le=MAX_IMAGES_PER_REQUEST, alias="num_images")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    params: dict[str, Any] = Field(default_factory=dict)
    init: str | None = None
    style: str | None = None
    mask: str | None = None
    requester: str | None = None
    project: str | None = None
    license: str | None = None
    use: Literal["commercial", "internal", "research"] | None = None

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str | None) -> str | None:
        return None if value is None else validate_request_id(value)

    @field_validator("prompt")
    @classmethod
    def _bounded_prompt(cls, value: str) -> str:
        if len(value) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}")
        return value

    def to_request(self, base_dir: Path, default_generator: str | None) -> GenerationRequest:
        """Resolve input-image paths (relative to `base_dir`) and defaults into a request."""
        generator = self.generator or default_generator
        if not generator:
            raise BadInputError("no generator given (use --generator or set [generators] default)")
        return GenerationRequest(
            prompt=self.prompt,
            generator=generator,
            request_id=self.id or new_request_id(),
            model=self.model,
            negative_prompt=self.negative_prompt,
            params=dict(self.params),
            seed=self.seed,
            num_images=self.n,
            init_image=_input(base_dir, self.init, "parentOf"),
            style_image=_input(base_dir, self.style, "inputTo"),
            mask_image=_input(base_dir, self.mask, "inputTo"),
            requester=self.requester,
            project=self.project,
            license=self.license,
            use=self.use,
        )


def _input(base_dir: Path, value: str | None, relationship: Any) -> InputImage | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return InputImage.from_path(path if path.is_absolute() else base_dir / path, relationship)


def request_from_fields(
    fields: dict[str, Any], base_dir: Path, default_generator: str | None
) -> GenerationRequest:
    """Validate one request's fields (CLI options or a parsed batch line)."""
    try:
        spec = RequestSpec.model_validate(fields)
    except ValidationError as exc:
        raise BadInputError(_one_line(exc)) from exc
    return spec.to_request(base_dir, default_generator)


@dataclass(frozen=True)
class BatchLine:
    """One line of a batch file: a request, or the reason it could not be read."""

    line_no: int
    request: GenerationRequest | None
    error: str | None
    request_id: str | None = None


def read_batch(path: Path, default_generator: str | None) -> Iterator[BatchLine]:
    """Parse a JSONL batch file line by line; a bad line is reported, not fatal.

    Every line must carry an `id` (resumable batches skip ids already done), and ids must be
    unique within the file.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read batch file ({exc.strerror or exc})") from exc
    seen: set[str] = set()
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        yield _parse_line(path, line_no, line, seen, default_generator)


def _parse_line(
    path: Path, line_no: int, line: bytes, seen: set[str], default_generator: str | None
) -> BatchLine:
    where = f"{path.name}:{line_no}"
    try:
        fields = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return BatchLine(line_no, None, f"{where}: not valid UTF-8")
    except json.JSONDecodeError as exc:
        return BatchLine(line_no, None, f"{where}: not JSON ({exc.msg})")
    if not isinstance(fields, dict):
        return BatchLine(line_no, None, f"{where}: expected a JSON object")
    raw_id = fields.get("id")
    if not raw_id:
        return BatchLine(line_no, None, f"{where}: every batch line needs an `id`")
    if raw_id in seen:
        return BatchLine(line_no, None, f"{where}: duplicate id {raw_id!r}", str(raw_id))
    seen.add(str(raw_id))
    try:
        request = request_from_fields(fields, path.parent, default_generator)
    except BadInputError as exc:
        return BatchLine(line_no, None, f"{where}: {exc.diagnostics()}", str(raw_id))
    return BatchLine(line_no, request, None, request.request_id)


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "request"
    msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
    return f"{where}: {msg}"
