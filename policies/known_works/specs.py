"""What a studio says about a work (`WorkSpec`), checked before anything is read or stored.

The same model validates `works add` options and every line of `works import`, so both
paths accept and refuse exactly the same things, with the same messages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provenance.errors import BadInputError

ALL_RIGHTS_RESERVED = "all-rights-reserved"
LICENSED_PREFIX = "licensed:"
_AGREEMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#+-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Kind = Literal["character", "artwork", "artist_style"]


def check_license(value: str) -> str:
    """`all-rights-reserved` or `licensed:<agreement id>`; raises ValueError otherwise."""
    text = value.strip()
    if text == ALL_RIGHTS_RESERVED:
        return text
    if text.startswith(LICENSED_PREFIX) and _AGREEMENT.match(text[len(LICENSED_PREFIX) :]):
        return text
    raise ValueError(
        f"must be {ALL_RIGHTS_RESERVED!r} or 'licensed:<agreement id>' "
        f"(letters, digits and ._:/#+-), got {value!r}"
    )


def is_licensed(license_text: str) -> bool:
    """Whether a work's licence grants use (`licensed:<agreement>`)."""
    return license_text.startswith(LICENSED_PREFIX)


class WorkSpec(BaseModel):
    """One work as the studio describes it; `images` are paths to reference images.

    `aliases` are other names in any language ("ピカチュウ", "La Gioconda"); `description`
    says what the work looks like (traits, setting, signature elements), so a prompt that
    describes it without a name can still be matched.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    creator: str = Field("", max_length=500)
    kind: Kind
    aliases: tuple[str, ...] = ()
    license: str
    images: tuple[Path, ...] = ()
    description: str = Field("", max_length=4000)

    @field_validator("id", "title", "creator")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("description")
    @classmethod
    def _one_paragraph(cls, value: str) -> str:
        if _CONTROL.search(value.replace("\n", " ").replace("\t", " ")):
            raise ValueError("must not contain control characters")
        return " ".join(value.split())

    @field_validator("aliases", mode="before")
    @classmethod
    def _clean_aliases(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a list of names")
        if isinstance(value, list | tuple):
            cleaned = [a.strip() if isinstance(a, str) else a for a in value]
            return tuple(dict.fromkeys(a for a in cleaned if a != ""))
        return value

    @field_validator("aliases")
    @classmethod
    def _check_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if len(alias) > 200 or _CONTROL.search(alias):
                raise ValueError(f"alias {alias[:40]!r} is too long or has control characters")
        return value

    @field_validator("license")
    @classmethod
    def _check_license(cls, value: str) -> str:
        return check_license(value)

    @property
    def names(self) -> tuple[str, ...]:
        """What a prompt may call this work (see `work_names`)."""
        return work_names(self.title, self.creator, self.kind, self.aliases)

    @property
    def embedding_text(self) -> str:
        """The text whose CLIP embedding stands for this work in prompt similarity."""
        return work_text(self.title, self.creator, self.aliases)


def work_names(title: str, creator: str, kind: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
    """Title and aliases; for an artist style also the artist, whose name *is* the style."""
    extra = (creator,) if kind == "artist_style" and creator else ()
    return tuple(dict.fromkeys((title, *aliases, *extra)))


def work_text(title: str, creator: str, aliases: tuple[str, ...] | list[str]) -> str:
    """`Title (alias, alias) by Creator`: one sentence CLIP can embed."""
    text = title
    if aliases:
        text += f" ({', '.join(aliases)})"
    if creator:
        text += f" by {creator}"
    return text


def parse_spec(data: dict[str, object], where: str) -> WorkSpec:
    """Validate one work; the error names `where` (a file and line, or the command)."""
    try:
        return WorkSpec.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"{where}: {describe_validation_error(exc)}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a validation error, as `field: message` (one line)."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "value"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "missing":
        message = "missing"
    elif err["type"] == "literal_error" and field == "kind":
        message = f"unknown kind {err.get('input')!r}; choose character, artwork or artist_style"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{field}: {message}{more}"
