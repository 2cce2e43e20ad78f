"""Builds the C2PA manifest definition for one output (a dict c2pa's `Builder` takes).

What goes in, and why (DESIGN.md "C2PA semantics"):

* Actions (`c2pa.actions.v2`).  Without a `parentOf` ingredient the first action is
  `c2pa.created` with digitalSourceType `trainedAlgorithmicMedia`.  With one (an init image,
  or the user's content picture in style transfer) it is `c2pa.opened` on that ingredient,
  then `c2pa.edited` with `compositeWithTrainedAlgorithmicMedia`.  Style/reference images are
  `inputTo` ingredients referenced by the creating or editing action.  Images made elsewhere
  and signed by `provenant sign` are `c2pa.created` / `trainedAlgorithmicMedia` too, with the
  generator the studio declares as the software agent, unless they already carry
  credentials: then the file is the `parentOf` ingredient, `c2pa.opened` comes first and
  the `edits` of the spec follow (for `sign`, one `c2pa.edited.metadata`: the pixels are
  unchanged, only screened and signed), and nothing claims the image was newly created.
* `org.provenant.generation`: generator, model card (weights digest, licence, training
  data), seed, resolved parameters, request id, requester, project, declared use and licence,
  and the prompt in full or as HMAC-SHA256 with the studio's salt (`manifest.prompt`).
* `org.provenant.policy`: the policies that ran, the prompt and image verdicts, and the
  layers bypassed by `[policies] degraded` (always present, empty when none was).
* `org.provenant.attribution`: the credited works.  Always present, also when the list is
  empty: "screened, nothing to credit" must be distinguishable from "not recorded".
* `cawg.training-mining`: the studio's training and mining preferences.

Ingredients are referenced by label; `ingredient_definitions` gives `signing` the matching
definitions for the same `InputImage` sequence, and c2pa refuses to sign if the two differ.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import provenance
from provenance.config import ManifestSettings
from provenance.credentials.keys import salt_id
from provenance.credentials.parent import ParentCredentials
from provenance.errors import BadInputError, ConfigError
from provenance.types import Attribution, GenerationRequest, InputImage, ModelInfo
from provenance.verdict import Verdict

DIGITAL_SOURCE_TYPE_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = DIGITAL_SOURCE_TYPE_BASE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = (
    DIGITAL_SOURCE_TYPE_BASE + "compositeWithTrainedAlgorithmicMedia"
)
#: Source types that mean "made by a generative model" (verify reports `ai_generated`).
AI_SOURCE_TYPES = frozenset({TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA})
_AI_SOURCE_TERMS = frozenset(t.rsplit("/", 1)[-1] for t in AI_SOURCE_TYPES)


def is_ai_source_type(url: str | None) -> bool:
    """Whether a digitalSourceType says generative AI (by its IPTC term, any URL prefix)."""
    return bool(url) and str(url).rstrip("/").rsplit("/", 1)[-1] in _AI_SOURCE_TERMS


ACTIONS_LABEL = "c2pa.actions.v2"
GENERATION_LABEL = "org.provenant.generation"
POLICY_LABEL = "org.provenant.policy"
ATTRIBUTION_LABEL = "org.provenant.attribution"
TRAINING_MINING_LABEL = "cawg.training-mining"
#: Key under an ingredient's assertion metadata holding the SHA-256 of the file we used.
INGREDIENT_SHA256_KEY = "org.provenant.sha256"


def software_agent() -> dict[str, str]:
    """Provenant as a ClaimGeneratorInfo (`softwareAgent` of our actions)."""
    return {"name": "provenant", "version": provenance.__version__}


@dataclass(frozen=True)
class EditStep:
    """One action done to a parent after `c2pa.opened` (`ManifestSpec.edits`).

    `software_agent` defaults to Provenant; `extra` carries further action fields that the
    C2PA action schema defines (`actors`, `changes`, ...).
    """

    action: str
    description: str
    software_agent: Mapping[str, str] | None = None
    digital_source_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_action(self, ingredient_ids: Sequence[str] = ()) -> dict[str, Any]:
        """The `c2pa.actions.v2` entry, referring to `ingredient_ids` when given."""
        out: dict[str, Any] = {
            **self.extra,
            "action": self.action,
            "softwareAgent": dict(self.software_agent or software_agent()),
            "description": self.description,
        }
        if self.digital_source_type:
            out["digitalSourceType"] = self.digital_source_type
        if ingredient_ids:
            out["parameters"] = {"ingredientIds": list(ingredient_ids)}
        return out


@dataclass(frozen=True)
class ManifestSpec:
    """Everything one output's manifest says; built by the pipeline (or `sign` for imports).

    `policies` names the policies that ran, as a list of names or a name -> version map.
    `imported` marks an image made elsewhere: `c2pa.created` with the declared generator
    as agent, and no seed required.  `edits`, when given, replace that first action: the
    `parentOf` ingredient is opened and the edits follow; `parent` is what c2pa said about
    that ingredient's own credentials.  `degraded` maps bypassed policy layers to why they
    could not run.
    """

    asset_id: str
    title: str
    request: GenerationRequest
    model: ModelInfo
    seed: int | None
    params: Mapping[str, Any]
    prompt_verdict: Verdict | None
    image_verdict: Verdict | None
    attributions: Sequence[Attribution] = ()
    ingredients: Sequence[InputImage] = ()
    manifest_settings: ManifestSettings = field(default_factory=ManifestSettings)
    prompt_salt: bytes | None = field(default=None, repr=False)
    generator: str | None = None
    policies: Sequence[str] | Mapping[str, str] = ()
    imported: bool = False
    edits: Sequence[EditStep] = ()
    parent: ParentCredentials | None = None
    degraded: Mapping[str, str] = field(default_factory=dict)
    #: "edited" or "human" for a person's work (`provenance.credentials.editing`); default by
    #: `imported`.
    origin: str | None = None
    #: The people behind the image ([{role, name, tool, actions}]), also in the ledger row.
    contributors: Sequence[Mapping[str, Any]] = ()


def build_manifest(spec: ManifestSpec) -> dict[str, Any]:
    """The manifest definition for `spec`, ready for `CredentialSigner.sign`."""
    _check_ingredients(spec)
    return {
        "claim_generator_info": [software_agent()],
        "title": spec.title,
        "assertions": [
            {"label": ACTIONS_LABEL, "data": {"actions": _actions(spec)}},
            {"label": GENERATION_LABEL, "data": _generation(spec)},
            {"label": POLICY_LABEL, "data": _policy(spec)},
            {"label": ATTRIBUTION_LABEL, "data": _attribution(spec.attributions)},
            {"label": TRAINING_MINING_LABEL, "data": _training_mining(spec.manifest_settings)},
        ],
    }


def build_import_manifest(spec: ManifestSpec) -> dict[str, Any]:
    """The manifest for an image generated elsewhere that the studio signs (`provenant sign`)."""
    from dataclasses import replace

    return build_manifest(replace(spec, imported=True))


def ingredient_label(index: int) -> str:
    """The label linking ingredient `index` of a spec to the actions that use it."""
    return f"ingredient-{index}"


def ingredient_definitions(ingredients: Sequence[InputImage]) -> list[dict[str, Any]]:
    """c2pa ingredient definitions for `ingredients`, labelled as `build_manifest` refers to them.

    The SHA-256 of the file as given is recorded in the ingredient's assertion metadata, so
    the manifest names exactly the bytes the studio used.
    """
    return [
        {
            "title": image.title,
            "relationship": image.relationship,
            "label": ingredient_label(index),
            "metadata": {INGREDIENT_SHA256_KEY: image.sha256},
        }
        for index, image in enumerate(ingredients)
    ]


def prompt_digest(prompt: str, salt: bytes) -> dict[str, str]:
    """HMAC-SHA256 of a prompt with the studio's salt, and which salt was used."""
    mac = hmac.new(salt, prompt.encode("utf-8"), hashlib.sha256).hexdigest()
    return {"hmac_sha256": mac, "salt_id": salt_id(salt)}


def _check_ingredients(spec: ManifestSpec) -> None:
    parents = [i for i in spec.ingredients if i.relationship == "parentOf"]
    if len(parents) > 1:
        names = ", ".join(p.title for p in parents)
        raise BadInputError(f"a manifest can have one parentOf ingredient, got {names}")
    if spec.edits and not parents and spec.edits[0].action != "c2pa.created":
        raise BadInputError("edits need a parentOf ingredient to open")


def _actions(spec: ManifestSpec) -> list[dict[str, Any]]:
    labels = {ingredient_label(i): img for i, img in enumerate(spec.ingredients)}
    parent = [lbl for lbl, img in labels.items() if img.relationship == "parentOf"]
    inputs = [lbl for lbl, img in labels.items() if img.relationship != "parentOf"]
    if spec.edits:
        first, *rest = spec.edits
        if not parent:  # a person's own new work: `c2pa.created` first
            return [first.as_action(inputs), *(step.as_action() for step in rest)]
        opened: dict[str, Any] = {
            "action": "c2pa.opened",
            "softwareAgent": dict(first.software_agent or software_agent()),
            "parameters": {"ingredientIds": parent},
        }
        if "actors" in first.extra:  # the person who opened the file to edit it
            opened["actors"] = first.extra["actors"]
        return [opened, first.as_action(inputs), *(step.as_action() for step in rest)]
    generator = spec.generator or spec.request.generator
    agent = software_agent()
    if spec.imported:
        agent = {"name": generator, "version": spec.model.version or "unknown"}
    made: dict[str, Any] = {
        "action": "c2pa.edited" if parent else "c2pa.created",
        "digitalSourceType": (
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if parent else TRAINED_ALGORITHMIC_MEDIA
        ),
        "softwareAgent": agent,
        "description": _description(spec, generator),
    }
    if inputs:
        made["parameters"] = {"ingredientIds": inputs}
    if not parent:
        return [made]
    opened = {
        "action": "c2pa.opened",
        "softwareAgent": software_agent(),
        "parameters": {"ingredientIds": parent},
    }
    return [opened, made]


def _description(spec: ManifestSpec, generator: str) -> str:
    model = f"{spec.model.name} {spec.model.version}".strip()
    if spec.imported:
        return f"generated outside Provenant with {generator} ({model}), as declared by the studio"
    return f"generated by Provenant with {generator} ({model})"


def _prompt_field(text: str, spec: ManifestSpec) -> str | dict[str, str]:
    if spec.manifest_settings.prompt == "full":
        return text
    if not spec.prompt_salt:
        raise ConfigError(
            'manifest.prompt = "salted_hash" needs the prompt salt; run `provenant init`'
        )
    return prompt_digest(text, spec.prompt_salt)


def _generation(spec: ManifestSpec) -> dict[str, Any]:
    request = spec.request
    data: dict[str, Any] = {
        "asset_id": spec.asset_id,
        "origin": spec.origin or ("imported" if spec.imported else "generated"),
        "generator": spec.generator or request.generator,
        "model": spec.model.as_dict(),
        "seed": spec.seed,
        "params": _jsonable(dict(spec.params), "params"),
        "request_id": request.request_id,
        "requester": request.requester,
        "project": request.project,
        "declared_use": request.use,
        "license": request.license,
        "prompt": _prompt_field(request.prompt, spec) if request.prompt else None,
    }
    if request.negative_prompt:
        data["negative_prompt"] = _prompt_field(request.negative_prompt, spec)
    if spec.parent is not None:
        data["parent"] = spec.parent.as_dict()
    if spec.contributors:
        data["contributors"] = _jsonable(list(spec.contributors), "contributors")
    return {k: v for k, v in data.items() if v is not None}


def _policy(spec: ManifestSpec) -> dict[str, Any]:
    if isinstance(spec.policies, Mapping):
        ran = [{"name": n, "version": v} for n, v in spec.policies.items()]
    else:
        ran = [{"name": n} for n in spec.policies]
    degraded = [{"layer": layer, "reason": why} for layer, why in sorted(spec.degraded.items())]
    data: dict[str, Any] = {"policies": ran, "degraded": degraded}
    if spec.prompt_verdict is not None:
        data["prompt"] = spec.prompt_verdict.as_dict()
    if spec.image_verdict is not None:
        data["image"] = spec.image_verdict.as_dict()
    return data


def _attribution(attributions: Sequence[Attribution]) -> dict[str, Any]:
    return {"works": [a.as_dict() for a in attributions]}


def _training_mining(settings: ManifestSettings) -> dict[str, Any]:
    return {"entries": {key: {"use": use} for key, use in settings.training_mining.items()}}


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(type(value).__name__)


def _jsonable(value: Any, where: str) -> Any:
    """`value` as plain JSON types, or a clear error naming the field that is not."""
    try:
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"manifest {where}: value is not JSON-serialisable ({exc})") from exc
