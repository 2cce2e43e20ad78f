"""Signed human work: an edit of another file (`sign --parent`), or a person's own creation.

Studios rarely ship a raw model output: an artist sketches, a model renders, the artist
retouches.  `sign EDITED --parent ORIGINAL --editor NAME` records such a retouch as a new
manifest in which

* ORIGINAL is the `parentOf` ingredient: c2pa copies its manifest store and records its
  active manifest and validation results (`provenance.credentials.parent` decides what may
  be a parent);
* the actions are `c2pa.opened` then the edits (default `c2pa.edited`), each naming the
  person in `actors` (the C2PA place for it), the editing tool as `softwareAgent`, the
  digital source type the result has (`EditKind.source_type`), and the changed rectangle
  in `changes` when the edit is local (found by comparing the files, or as the person
  states it with `--region X,Y,W,H`);
* the edit is screened like an output (output safety, known works) and inherits the licence
  terms of every model in its history (`inherited_card`): a research-only ancestor keeps
  the retouch research-only, and the refusal names that ancestor.

Without `--parent`, `sign FILE --editor NAME` signs a person's own work (a sketch) as
`c2pa.created` with digitalSourceType `digitalCreation`.

The person is named through one function, `editor_actor`: c2pa-python 0.38 cannot write a
CAWG identity assertion through its public API, so today the actor carries the name as its
identifier and no credentials; when the SDK can sign an identity, only that function changes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.credentials.manifest import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_SOURCE_TYPE_BASE,
    EditStep,
    is_ai_source_type,
    software_agent,
)
from provenance.errors import BadInputError
from provenance.types import USES, ModelInfo

HUMAN_EDITS = DIGITAL_SOURCE_TYPE_BASE + "humanEdits"
MINOR_HUMAN_EDITS = DIGITAL_SOURCE_TYPE_BASE + "minorHumanEdits"
DIGITAL_CREATION = DIGITAL_SOURCE_TYPE_BASE + "digitalCreation"
#: The generator name ledger rows of human work carry.
HUMAN_GENERATOR = "human"
DEFAULT_ACTION = "c2pa.edited"
#: Edits that adjust a picture rather than make new content (IPTC `minorHumanEdits`).
MINOR_ACTIONS = frozenset(
    {"c2pa.color_adjustments", "c2pa.cropped", "c2pa.resized", "c2pa.orientation"}
)
#: C2PA actions a person's edit may record (`c2pa.opened`/`created` are set by Provenant).
EDIT_ACTIONS = frozenset(
    {
        *MINOR_ACTIONS,
        "c2pa.drawing",
        "c2pa.edited",
        "c2pa.filtered",
        "c2pa.placed",
        "c2pa.removed",
        "c2pa.transcoded",
        "c2pa.converted",
    }
)
#: Custom actions are namespaced labels outside `c2pa.` (`com.studio.paintover`).
_CUSTOM_ACTION = re.compile(r"^(?!c2pa\.)[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
MAX_NAME_CHARS = 200
#: An edit whose changed rectangle covers less than this share of the image is local.
LOCAL_EDIT_SHARE = 0.5
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_person_name(value: str, option: str = "--editor") -> str:
    """A person's name as it goes into a signed claim: 1-200 printable characters."""
    name = value.strip()
    if not name:
        raise BadInputError(f"{option}: give the person's name")
    if len(name) > MAX_NAME_CHARS:
        raise BadInputError(f"{option}: {len(name)} characters; at most {MAX_NAME_CHARS}")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS]
    if bad:
        raise BadInputError(f"{option}: contains control character U+{ord(bad[0]):04X}")
    return name


def check_actions(actions: Sequence[str]) -> tuple[str, ...]:
    """The edit actions, in order; default `c2pa.edited`."""
    checked = []
    for action in actions or (DEFAULT_ACTION,):
        if action not in EDIT_ACTIONS and not _CUSTOM_ACTION.match(action):
            known = ", ".join(sorted(EDIT_ACTIONS))
            raise BadInputError(
                f"--action {action[:80]!r}: not an edit action; use one of {known} or a "
                "namespaced custom label such as com.studio.paintover"
            )
        checked.append(action)
    return tuple(dict.fromkeys(checked))


def editor_actor(name: str) -> dict[str, Any]:
    """The person as an `actors` entry of a `c2pa.actions.v2` action (the identity step).

    c2pa-python 0.38 offers no public way to sign a CAWG identity assertion, so the actor
    has the name as identifier and no credentials.  A CAWG X.509 identity replaces this
    function (credentials then reference the identity assertion) when the SDK allows it.
    """
    return {"identifier": name, "credentials": []}


def tool_agent(tool: str | None) -> dict[str, str]:
    """`softwareAgent` for the editing tool ("Krita 5.2" -> name Krita, version 5.2)."""
    if not tool:
        return software_agent()
    name, _, version = tool.strip().rpartition(" ")
    if name and re.fullmatch(r"v?\d[\w.\-]*", version):
        return {"name": name, "version": version.lstrip("v")}
    return {"name": tool.strip()}


@dataclass(frozen=True)
class Ancestor:
    """A manifest in a parent's history: who signed what, AI or not, which licence."""

    label: str
    title: str
    ai: bool
    model: Mapping[str, Any] | None

    @property
    def permitted_uses(self) -> tuple[str, ...] | None:
        """The uses its model card permits (None: no Provenant model card)."""
        uses = (self.model or {}).get("permitted_uses")
        return tuple(str(u) for u in uses) if isinstance(uses, list) else None

    def describe(self) -> str:
        """`tiny-dcgan 1.0 (CC-BY-NC-4.0) in render.png, urn:c2pa:...`."""
        model = self.model or {}
        name = f"{model.get('name', '?')} {model.get('version', '')}".strip()
        return f"{name} ({model.get('license', 'unknown')}) in {self.title}, {self.label}"


def ancestors(store: Mapping[str, Any]) -> list[Ancestor]:
    """Every manifest in a file's manifest store (its whole history), active one first."""
    manifests: Mapping[str, Any] = store.get("manifests") or {}
    active = store.get("active_manifest")
    order = sorted(manifests, key=lambda label: label != active)
    found = []
    for label in order:
        manifest = manifests[label] or {}
        actions: list[Mapping[str, Any]] = []
        generation = None
        for assertion in manifest.get("assertions") or ():
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                actions.extend((assertion.get("data") or {}).get("actions") or ())
            elif assertion.get("label") == "org.provenant.generation":
                generation = assertion.get("data") or {}
        ai = any(is_ai_source_type(a.get("digitalSourceType")) for a in actions)
        model = (generation or {}).get("model")
        title = str(manifest.get("title") or "?")
        found.append(Ancestor(str(label), title, ai, model if isinstance(model, dict) else None))
    return found


def inherited_card(history: Sequence[Ancestor]) -> ModelInfo:
    """The "model card" of a human step: no model, the licence terms of its ancestors.

    The permitted uses are those every ancestor's model permits; the licence text names
    each ancestor that restricts them, so a refusal says which one.
    """
    permitted = set(USES)
    restricting = []
    for ancestor in history:
        uses = ancestor.permitted_uses
        if uses is not None and not set(USES) <= set(uses):
            permitted &= set(uses)
            restricting.append(ancestor.describe())
    terms = "; ".join(restricting)
    return ModelInfo(
        name="human work",
        version="",
        architecture="none (made or edited by a person)",
        license=f"inherits the terms of {terms}" if terms else "no model licence inherited",
        training_data="none",
        weights_sha256="",
        permitted_uses=tuple(u for u in USES if u in permitted),
    )


def source_type(actions: Sequence[str], history: Sequence[Ancestor]) -> str:
    """The digitalSourceType of the edited result.

    A model-made ancestor makes a hand retouch `compositeWithTrainedAlgorithmicMedia`;
    otherwise adjustments only (colour, crop, resize, orientation) are `minorHumanEdits`
    and anything else `humanEdits`.
    """
    if any(a.ai for a in history):
        return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    return MINOR_HUMAN_EDITS if set(actions) <= MINOR_ACTIONS else HUMAN_EDITS


def changed_region(parent: Any, edited: Any) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the pixels that differ, when the edit is local.

    None when the sizes differ (a crop or resize changes everything), when nothing changed,
    or when the rectangle covers at least `LOCAL_EDIT_SHARE` of the image.
    """
    from PIL import ImageChops

    if parent.size != edited.size:
        return None
    box = ImageChops.difference(parent.convert("RGB"), edited.convert("RGB")).getbbox()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if width * height >= LOCAL_EDIT_SHARE * edited.width * edited.height:
        return None
    return (x0, y0, width, height)


def parse_region(text: str) -> tuple[int, int, int, int]:
    """`X,Y,W,H` (pixels) as a rectangle; a one-line `BadInputError` when it is not one."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise BadInputError(f"--region {text!r}: expected X,Y,WIDTH,HEIGHT in whole pixels")
    x, y, width, height = (int(p) for p in parts)
    if width == 0 or height == 0:
        raise BadInputError(f"--region {text!r}: width and height must be at least 1")
    return (x, y, width, height)


def check_region(
    region: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """`region` when it lies inside an image of `size` (width, height), else a clear error."""
    x, y, width, height = region
    if x + width > size[0] or y + height > size[1]:
        raise BadInputError(
            f"--region {x},{y},{width},{height} reaches outside the "
            f"{size[0]}x{size[1]} edited image"
        )
    return region


def region_change(region: tuple[int, int, int, int], description: str) -> dict[str, Any]:
    """A C2PA region of interest (a pixel rectangle) for an action's `changes`."""
    x, y, width, height = region
    shape = {
        "type": "rectangle",
        "origin": {"x": x, "y": y},
        "width": width,
        "height": height,
        "unit": "pixel",
    }
    return {"region": [{"type": "spatial", "shape": shape}], "description": description}


@dataclass(frozen=True)
class HumanStep:
    """What a person did, as `sign --editor` was told and found it."""

    editor: str
    tool: str | None
    actions: tuple[str, ...]
    source_type: str
    region: tuple[int, int, int, int] | None = None
    created: bool = False

    def edit_steps(self) -> tuple[EditStep, ...]:
        """The actions after `c2pa.opened` (or the one `c2pa.created` of a new work)."""
        extra: dict[str, Any] = {"actors": [editor_actor(self.editor)]}
        if self.region is not None:
            extra["changes"] = [region_change(self.region, f"changed by {self.editor}")]
        agent = tool_agent(self.tool)
        if self.created:
            what = f"made by {self.editor}" + (f" in {self.tool}" if self.tool else "")
            return (EditStep("c2pa.created", what, agent, self.source_type, extra),)
        return tuple(
            EditStep(action, f"{action} by {self.editor}", agent, self.source_type, extra)
            for action in self.actions
        )

    def contributor(self) -> dict[str, Any]:
        """The ledger's contributor entry for this person."""
        role = "author" if self.created else "editor"
        out: dict[str, Any] = {"role": role, "name": self.editor, "actions": list(self.actions)}
        if self.tool:
            out["tool"] = self.tool
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`sign --json`)."""
        return {
            **self.contributor(),
            "digital_source_type": self.source_type,
            "region": list(self.region) if self.region else None,
        }


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of bytes (the ledger's file identity)."""
    return hashlib.sha256(data).hexdigest()


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (so an edit cannot be its own parent)."""
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False
