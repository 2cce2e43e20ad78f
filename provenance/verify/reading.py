"""Turns one file's bytes into a `VerificationReport` with c2pa's `Reader`.

The trust decision is c2pa's alone: its validation state under the trust settings of the
`c2pa.Context` (anchors, allowed list, EKUs), and only `Trusted` is trusted.  `Valid` means
the signature checks out but the signer chains to none of our anchors.  Nothing here reads
the file's containers or upgrades a verdict: c2pa-python 0.38.1 (c2pa 0.91.3) ignores
`trust.allowed_list` while reading, so an allowed end-entity certificate reads `Valid` until
c2pa applies it (a strict xfail in tests/unit/trust/test_verify.py shows it).  c2pa's own
errors become states through a table.

Who signed comes from the certificate as c2pa parsed it (crJSON `signature.certificateInfo`:
subject, issuer, serial, validity), so a damaged certificate that c2pa still
accepts cannot break the report.  c2pa-python hands out no certificate bytes for the claim
signer (c2pa's `SignatureInfo.cert_chain` is never serialised), so `--certs` shows these
facts without PEM.

crJSON costs about 0.7 ms a file, 40% of what c2pa's Reader and its JSON cost, so the facts
of a *trusted* signer are kept per process (`_TRUSTED_SIGNERS`), keyed by what c2pa's own
`signature_info` names the certificate by (algorithm, issuer, common name, serial): a folder
signed by one studio pays for crJSON once.  Only for `Trusted` files: their chain validated
to a configured anchor, and an issuer never gives two certificates one serial; any other
file's certificate is always read from its own crJSON.

crJSON and the detailed JSON re-decode every assertion, and c2pa-rs sizes its buffers by the
lengths a broken assertion declares: on a 40 KB file whose `c2pa.hash.data` CBOR was damaged
either call allocated 1.7 GB.  When c2pa already reports `assertion.cbor.invalid`, neither is
called; the report is invalid anyway and its signer comes from c2pa's `signature_info`.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.credentials.manifest import (
    ATTRIBUTION_LABEL,
    GENERATION_LABEL,
    INGREDIENT_SHA256_KEY,
    POLICY_LABEL,
    TRAINING_MINING_LABEL,
    is_ai_source_type,
)
from provenance.credentials.trust import TRUSTED_STATE
from provenance.errors import BadInputError
from provenance.imageio import check_dimensions, sniff_mime
from provenance.verify.identities import apply_identities, read_identities
from provenance.verify.report import (
    IdentityReport,
    IngredientReport,
    SignerInfo,
    State,
    Validation,
    ValidationCode,
    VerificationReport,
)

if TYPE_CHECKING:
    import c2pa
    from cryptography import x509

UNTRUSTED_CODE = "signingCredential.untrusted"


def read_credentials(
    path: Path,
    data: bytes,
    context: c2pa.Context,
    *,
    details: bool = False,
    cawg_anchors: Sequence[x509.Certificate] = (),
) -> VerificationReport:
    """Validate the C2PA credentials in `data` (the bytes of `path`).

    Raises `BadInputError` for files that are no readable image; every c2pa outcome,
    including its errors, becomes a report.
    """
    import c2pa

    mime = sniff_mime(data, path)
    _check_declared_size(data, mime, path)
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            store = json.loads(reader.json())
            certificate: dict[str, Any] = {}
            detailed: dict[str, Any] | None = None
            identities: tuple[IdentityReport, ...] = ()
            if _assertions_decode(store):
                certificate = _signer_certificate(reader.crjson, store)
                detailed = json.loads(reader.detailed_json()) if details else None
                identities = read_identities(store, reader.detailed_json, cawg_anchors)
    except c2pa.C2paError as exc:
        return VerificationReport(path, _error_state(exc), _error_reason(exc), mime=mime)
    report = _report_from_store(path, mime, store, certificate)
    report = apply_identities(report, identities)
    if details:
        report = _with_details(report, store, detailed, certificate)
    return report


#: c2pa's code for an assertion whose CBOR does not decode (see the module docstring).
_CBOR_INVALID = "assertion.cbor.invalid"


def _assertions_decode(store: Mapping[str, Any]) -> bool:
    """False when c2pa reported an assertion whose CBOR does not decode, anywhere in the
    store: re-decoding it (crJSON, detailed JSON) is what costs gigabytes."""
    codes = [s.get("code") for s in _statuses(store.get("validation_status"))]
    results = store.get("validation_results")
    if isinstance(results, dict):
        for part in [results.get("activeManifest"), *_items(results.get("ingredientDeltas"))]:
            if isinstance(part, dict) and "validationDeltas" in part:
                part = part["validationDeltas"]
            if isinstance(part, dict):
                for kind in ("success", "informational", "failure"):
                    codes += [s.get("code") for s in _statuses(part.get(kind))]
    return _CBOR_INVALID not in codes


def _statuses(value: Any) -> list[dict[str, Any]]:
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


#: Certificate facts of trusted signers, by `_signer_key` (see the module docstring).
_TRUSTED_SIGNERS: dict[tuple[str, str, str, str], dict[str, Any]] = {}
#: Signers kept at most (a batch from many studios just reads crJSON past it).
_TRUSTED_SIGNERS_MAX = 64


def _signer_certificate(crjson: Callable[[], str], store: Mapping[str, Any]) -> dict[str, Any]:
    """The active manifest's certificate facts: remembered for a trusted signer, else read."""
    label = store.get("active_manifest")
    key = _signer_key(store) if store.get("validation_state") == "Trusted" else None
    if key is not None and key in _TRUSTED_SIGNERS:
        return copy.deepcopy(_TRUSTED_SIGNERS[key])
    info = _certificate_info(crjson, label)
    if key is not None and info and len(_TRUSTED_SIGNERS) < _TRUSTED_SIGNERS_MAX:
        _TRUSTED_SIGNERS[key] = copy.deepcopy(info)
    return info


def _signer_key(store: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """(alg, issuer, common name, serial) of the active manifest's signer, when all are set."""
    manifests = store.get("manifests")
    manifest = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    info = manifest.get("signature_info") if isinstance(manifest, dict) else None
    if not isinstance(info, dict):
        return None
    fields = tuple(info.get(k) for k in ("alg", "issuer", "common_name", "cert_serial_number"))
    if not all(isinstance(f, str) and f for f in fields):
        return None
    return fields  # type: ignore[return-value]


def _certificate_info(crjson: Callable[[], str], label: Any) -> dict[str, Any]:
    """The active manifest's signing certificate as c2pa parsed it (crJSON), or {}.

    crJSON lists manifests with their labels; anything but the expected shape (a signer
    may have written anything c2pa could still read) yields {} and the report falls back to
    c2pa's shorter `signature_info`.
    """
    import c2pa

    try:
        document = json.loads(crjson())
    except (c2pa.C2paError, ValueError):
        return {}
    manifests = document.get("manifests") if isinstance(document, dict) else None
    for manifest in manifests if isinstance(manifests, list) else ():
        if isinstance(manifest, dict) and manifest.get("label") == label:
            signature = manifest.get("signature")
            info = signature.get("certificateInfo") if isinstance(signature, dict) else None
            return info if isinstance(info, dict) else {}
    return {}


def check_declared_size(data: bytes, mime: str, path: Path) -> None:
    """`BadInputError` when the header declares more pixels than we decode (uploads are
    checked with this before they are verified, to answer 413)."""
    _check_declared_size(data, mime, path)


def _check_declared_size(data: bytes, mime: str, path: Path) -> None:
    """Refuse absurd declared dimensions (a 100000x100000 header) without decoding pixels.

    Only a size that can be read and is too big is refused here; a header that cannot be
    read is left to c2pa, whose verdict on a damaged or tampered file is more precise
    (Pillow, for one, rejects a PNG whose manifest chunk was altered as a bad checksum).
    """
    size = _declared_size(data, mime, path)
    if size is not None:
        check_dimensions(size[0], size[1], str(path))


def _declared_size(data: bytes, mime: str, path: Path) -> tuple[int, int] | None:
    if mime == "image/png":  # IHDR is the first chunk: width and height at bytes 16..24
        if data[12:16] != b"IHDR" or len(data) < 24:
            return None
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # judged below
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError as exc:
        raise BadInputError(f"{path}: decompression bomb refused ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None


def _error_states() -> list[tuple[type[BaseException], State]]:
    import c2pa

    err = c2pa.C2paError
    return [
        (err.ManifestNotFound, State.NO_CREDENTIALS),
        (err.RemoteManifest, State.NO_CREDENTIALS),
        (err.Io, State.UNREADABLE),
        (err.NotSupported, State.UNREADABLE),
        (err.FileNotFound, State.UNREADABLE),
    ]


def _error_state(exc: BaseException) -> State:
    """c2pa error -> state, by the table above; then two cases read from the message.

    `Other` is c2pa's catch-all: when it says the asset could not be parsed, the file is
    damaged rather than its credentials forged.  A manifest stored remotely while fetching
    is off is reported (untyped) as "Remote: ...": there are no credentials we could check.
    """
    import c2pa

    for family, state in _error_states():
        if isinstance(exc, family):
            return state
    if isinstance(exc, c2pa.C2paError.Other) and "could not be parsed" in str(exc):
        return State.UNREADABLE
    if str(exc).startswith("Remote:"):
        return State.NO_CREDENTIALS
    return State.INVALID


def _error_reason(exc: BaseException) -> str:
    text = _one_line(exc)
    if text.startswith(("Remote:", "RemoteManifest:")):
        return (
            f"credentials are stored remotely and remote fetching is off ({text}); "
            "set [trust] fetch_remote_manifests = true to fetch them"
        )
    if text.startswith("ManifestNotFound:"):
        return "no content credentials (no C2PA manifest in the file)"
    return text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def _codes(entries: Any) -> tuple[ValidationCode, ...]:
    if not isinstance(entries, list):
        return ()
    return tuple(
        ValidationCode(str(e.get("code", "")), str(e.get("explanation", "")), str(e.get("url", "")))
        for e in entries
        if isinstance(e, dict)
    )


def _validation(results: Any) -> Validation:
    results = results if isinstance(results, dict) else {}
    return Validation(
        failure=_codes(results.get("failure")),
        success=_codes(results.get("success")),
        informational=_codes(results.get("informational")),
    )


def _assertions(manifest: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and "label" in assertion:
            out.setdefault(str(assertion["label"]), assertion.get("data"))
    return out


def _signer(manifest: Mapping[str, Any], certificate: Mapping[str, Any]) -> SignerInfo | None:
    """Who signed: the certificate as c2pa parsed it when it says, else c2pa's summary."""
    info = manifest.get("signature_info")
    info = info if isinstance(info, dict) else {}
    if not info and not certificate:
        return None
    subject = _name_dict(certificate.get("subject"))
    issuer = _name_dict(certificate.get("issuer"))
    validity = certificate.get("validity")
    validity = validity if isinstance(validity, dict) else {}
    common_name = subject.get("CN") or str(info.get("common_name", ""))
    organisation = subject.get("O") or str(info.get("issuer", ""))
    alg = info.get("alg")
    return SignerInfo(
        subject=_rdn_text(subject) or f"CN={common_name},O={organisation}",
        issuer=_rdn_text(issuer),
        common_name=common_name,
        serial=str(certificate.get("serialNumber") or info.get("cert_serial_number") or ""),
        not_before=_text_or_none(validity.get("notBefore")),
        not_after=_text_or_none(validity.get("notAfter")),
        algorithm=str(alg).lower() if alg else None,
        signed_at=_text_or_none(info.get("time")),
    )


def _name_dict(value: Any) -> dict[str, str]:
    """A distinguished name as crJSON gives it ({"CN": ..., "O": ...}), values as text."""
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int)}


def _rdn_text(name: Mapping[str, str]) -> str:
    """`CN=...,O=...,OU=...`: common name first, then the rest in c2pa's order."""
    order = sorted(name, key=lambda key: (key != "CN", key != "O"))
    return ",".join(f"{key}={_escape_rdn(name[key])}" for key in order)


def _escape_rdn(value: str) -> str:
    """RFC 4514 escaping of the characters that would split a name."""
    for char in ("\\", ",", "+", '"', "<", ">", ";"):
        value = value.replace(char, "\\" + char)
    return value


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _claim_generator(manifest: Mapping[str, Any]) -> str | None:
    infos = manifest.get("claim_generator_info") or []
    if infos and isinstance(infos[0], dict):
        return f"{infos[0].get('name', '')} {infos[0].get('version', '')}".strip()
    return manifest.get("claim_generator")


def _actions(assertions: Mapping[str, Any]) -> list[dict[str, Any]]:
    for label in ("c2pa.actions.v2", "c2pa.actions"):
        data = assertions.get(label)
        if isinstance(data, dict) and isinstance(data.get("actions"), list):
            return [a for a in data["actions"] if isinstance(a, dict)]
    return []


def _ingredients(
    manifest: Mapping[str, Any], deltas: Any, label: str
) -> tuple[IngredientReport, ...]:
    by_uri = {
        d.get("ingredientAssertionURI", ""): d.get("validationDeltas")
        for d in (deltas if isinstance(deltas, list) else [])
        if isinstance(d, dict)
    }
    out = []
    for item in manifest.get("ingredients") or []:
        if not isinstance(item, dict):
            continue
        uri = f"self#jumbf=/c2pa/{label}/c2pa.assertions/{item.get('label', '')}"
        own = item.get("validation_results", {}).get("activeManifest")
        out.append(
            IngredientReport(
                title=str(item.get("title", "")),
                relationship=str(item.get("relationship", "")),
                format=item.get("format"),
                sha256=(item.get("metadata") or {}).get(INGREDIENT_SHA256_KEY),
                manifest_label=item.get("active_manifest"),
                validation=_validation(by_uri.get(uri) or own),
            )
        )
    return tuple(out)


def _report_from_store(
    path: Path, mime: str, store: Mapping[str, Any], certificate: Mapping[str, Any]
) -> VerificationReport:
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    results = store.get("validation_results") or {}
    validation = _validation(results.get("activeManifest"))
    state_name = store.get("validation_state")
    assertions = _assertions(manifest)
    actions = _actions(assertions)
    source = next((a["digitalSourceType"] for a in actions if a.get("digitalSourceType")), None)
    ingredients = _ingredients(manifest, results.get("ingredientDeltas"), str(label))
    disclosure = ai_disclosure(store, label)
    state = _state(state_name, validation)
    report = VerificationReport(
        path=path,
        state=state,
        reason="",
        mime=mime,
        validation_state=state_name,
        validation=validation,
        manifest_label=label,
        title=manifest.get("title"),
        signer=_signer(manifest, certificate),
        claim_generator=_claim_generator(manifest),
        actions=tuple(str(a.get("action", "")) for a in actions),
        digital_source_type=source,
        ai_generated=disclosure is not None,
        ai_disclosure=disclosure,
        generation=_dict_or_none(assertions.get(GENERATION_LABEL)),
        policy=_dict_or_none(assertions.get(POLICY_LABEL)),
        attributions=_credited_works(assertions.get(ATTRIBUTION_LABEL)),
        training_mining=_dict_or_none(assertions.get(TRAINING_MINING_LABEL)),
        ingredients=ingredients,
    )
    return _with_reason(report)


#: How deep `ai_disclosure` follows ingredients (a store is a tree; a hostile one may loop).
_MAX_INGREDIENT_DEPTH = 16


def ai_disclosure(store: Mapping[str, Any], label: Any) -> str | None:
    """Why the asset counts as AI-generated, or None: its own actions, else its history.

    An image re-signed after editing (`provenant sign` on a generated file) says
    `c2pa.opened`, not `trainedAlgorithmicMedia`; the disclosure lives in the parent's
    manifest, which the store carries.  So the active manifest's actions are read first,
    then every ingredient's manifest, breadth-first, each manifest once.
    """
    manifests = store.get("manifests")
    manifests = manifests if isinstance(manifests, dict) else {}
    queue: list[tuple[Any, int, str]] = [(label, 0, "")]
    seen: set[str] = set()
    while queue:
        current, depth, via = queue.pop(0)
        if not isinstance(current, str) or current in seen or depth > _MAX_INGREDIENT_DEPTH:
            continue
        seen.add(current)
        manifest = manifests.get(current)
        if not isinstance(manifest, dict):
            continue
        term = _ai_term(_actions(_assertions(manifest)))
        if term is not None:
            return (
                f"AI-generated ({term})"
                if not via
                else (f"contains AI-generated ingredient {via} ({term})")
            )
        for item in manifest.get("ingredients") or ():
            if isinstance(item, dict):
                title = via or f"'{item.get('title') or item.get('active_manifest')}'"
                queue.append((item.get("active_manifest"), depth + 1, title))
    return None


def _ai_term(actions: Sequence[Mapping[str, Any]]) -> str | None:
    for action in actions:
        source = action.get("digitalSourceType")
        if isinstance(source, str) and is_ai_source_type(source):
            return source.rstrip("/").rsplit("/", 1)[-1]
    return None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _credited_works(value: Any) -> tuple[dict[str, Any], ...]:
    """The works an attribution assertion credits; any other shape (a signer may write
    anything under our labels) credits nothing rather than breaking the report."""
    works = value.get("works") if isinstance(value, dict) else None
    return tuple(w for w in works if isinstance(w, dict)) if isinstance(works, list) else ()


def _state(validation_state: str | None, validation: Validation) -> State:
    if validation_state == TRUSTED_STATE and not validation.failure:
        return State.TRUSTED
    if validation_state == "Valid":
        return State.VALID_UNTRUSTED
    return State.INVALID


def _with_reason(report: VerificationReport) -> VerificationReport:
    return replace(report, reason=describe_state(report))


def describe_state(report: VerificationReport) -> str:
    """One line saying why the file is in its state (what the CLI prints)."""
    signer = report.signer.subject if report.signer else "unknown signer"
    bad_ingredients = [i.title for i in report.ingredients if i.validation.failure]
    suffix = (
        f"; ingredient(s) failing validation: {', '.join(bad_ingredients)}"
        if bad_ingredients
        else ""
    )
    reasons: dict[State, Callable[[], str]] = {
        State.TRUSTED: lambda: f"trusted credentials signed by {signer}",
        State.VALID_UNTRUSTED: lambda: (
            f"signature valid but signer {signer} is not trusted ({UNTRUSTED_CODE}); "
            "add its root with --trust-anchors"
        ),
        State.INVALID: lambda: (
            "credentials fail validation: "
            + "; ".join(
                f"{c.code} ({c.explanation})" if c.explanation else c.code
                for c in report.validation.failure
            )
        ),
    }
    return reasons.get(report.state, lambda: report.reason)() + suffix


def _with_details(
    report: VerificationReport,
    store: dict[str, Any],
    detailed: dict[str, Any] | None,
    certificate: Mapping[str, Any],
) -> VerificationReport:
    """Add the manifest store, c2pa's detailed JSON and the signer's certificate facts."""
    signer = report.signer
    certificates: tuple[dict[str, Any], ...] = ()
    if certificate and signer is not None:
        certificates = (
            {
                "subject": signer.subject,
                "issuer": signer.issuer,
                "serial": signer.serial,
                "not_before": signer.not_before,
                "not_after": signer.not_after,
            },
        )
    return replace(report, manifest_store=store, detailed=detailed, certificate_chain=certificates)
