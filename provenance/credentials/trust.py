"""What C2PA trust means for Provenant, in one place: accepted EKUs and the c2pa settings.

c2pa-rs validates a signing certificate's Extended Key Usage against one list that it also
uses for timestamp and OCSP responder certificates.  Its built-in list (0.91) omits
id-kp-documentSigning (RFC 9336) and c2pa-kp-claimSigning, both of which the C2PA
specification names for claim signers, so a certificate carrying only those would verify as
`signingCredential.invalid`.  Both signing and verification therefore pass the full list
below as `trust.trust_config`; our own development leaf carries emailProtection *and*
documentSigning, so it also verifies as Trusted in tools running c2pa-rs defaults.

Settings are plain dicts handed to `c2pa.Context.from_dict` (c2pa-python's explicit context
objects; no global state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from provenance.errors import ConfigError

EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # RFC 9336
EKU_C2PA_CLAIM_SIGNING = "1.3.6.1.4.1.62558.2.1"
EKU_MS_C2PA_SIGNING = "1.3.6.1.4.1.311.76.59.1.9"
EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
EKU_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"

#: EKUs that make a certificate fit to sign C2PA claims (at least one must be present).
SIGNING_EKUS: Mapping[str, str] = {
    EKU_EMAIL_PROTECTION: "emailProtection",
    EKU_DOCUMENT_SIGNING: "documentSigning",
    EKU_C2PA_CLAIM_SIGNING: "c2pa-kp-claimSigning",
    EKU_MS_C2PA_SIGNING: "MS C2PA signing",
}

#: The EKU list c2pa-rs checks (claim signers, TSA and OCSP responders): its defaults plus
#: the claim-signing EKUs it lacks.
C2PA_TRUST_CONFIG = "\n".join(
    [*SIGNING_EKUS, EKU_TIME_STAMPING, EKU_OCSP_SIGNING],
)

#: The EKUs CAWG recognises for X.509 identity credentials (`cawg_trust.trust_config`).
CAWG_TRUST_CONFIG = "\n".join([EKU_EMAIL_PROTECTION, EKU_DOCUMENT_SIGNING])

#: Organisation named in development certificates unless `--organisation` says otherwise.
DEFAULT_ORGANISATION = "Provenant Studio (development)"

#: The only validation state that counts as trusted (`Valid` means the signature checks out
#: but the signer chains to no configured anchor).
TRUSTED_STATE = "Trusted"


def read_pem_bundle(paths: Iterable[Path], what: str) -> str:
    """Concatenate PEM certificate files, refusing missing or non-certificate files by name.

    `what` says what the files are for ("trust anchor"), so the error tells the user which
    setting or flag to fix.
    """
    from cryptography import x509

    parts: list[str] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ConfigError(f"{path}: {what} is not a PEM certificate file") from exc
        parts.append(data.decode("ascii", errors="replace").strip() + "\n")
    return "".join(parts)


def signing_settings(
    *, thumbnail: bool, thumbnail_long_edge: int, claim_generator: Mapping[str, str]
) -> dict[str, Any]:
    """c2pa settings for signing: thumbnails as configured, our EKU list for the post-sign check.

    c2pa verifies every manifest right after signing it (`verify_after_sign`); we keep that
    on, so a credential that would not verify is never written.
    """
    return {
        "builder": {
            "thumbnail": {"enabled": thumbnail, "long_edge": thumbnail_long_edge},
            "claim_generator_info": dict(claim_generator),
        },
        "trust": {"trust_config": C2PA_TRUST_CONFIG},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }


def verification_settings(
    anchors_pem: str,
    allowed_pem: str = "",
    *,
    fetch_remote_manifests: bool = False,
    ocsp_fetch: bool = False,
    cawg_anchors_pem: str = "",
) -> dict[str, Any]:
    """c2pa settings for reading: our anchors and EKUs; network fetches only when asked for.

    Air-gapped studios verify offline, so remote manifests and OCSP stay off unless the
    `[trust]` settings turn them on.  CAWG identity credentials have anchors of their own
    (`cawg_trust`), apart from the claim signers' (c2pa 0.91.3 does not apply them while
    reading yet: see `verification.cawg_chain`).
    """
    trust: dict[str, Any] = {"trust_config": C2PA_TRUST_CONFIG}
    if anchors_pem:
        trust["user_anchors"] = anchors_pem
    if allowed_pem:
        trust["allowed_list"] = allowed_pem
    settings: dict[str, Any] = {
        "trust": trust,
        "verify": {
            "verify_trust": True,
            "remote_manifest_fetch": fetch_remote_manifests,
            "ocsp_fetch": ocsp_fetch,
        },
    }
    if cawg_anchors_pem:
        settings["cawg_trust"] = {
            "verify_trust_list": True,
            "user_anchors": cawg_anchors_pem,
            "trust_config": CAWG_TRUST_CONFIG,
        }
    return settings
