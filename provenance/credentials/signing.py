"""Signs image bytes with C2PA content credentials through c2pa-python (`Builder` + `Signer`).

We never write JUMBF or COSE ourselves; c2pa does, and verifies what it wrote before
returning (`verify_after_sign`).  One `CredentialSigner` opens the signer plugin once, builds
one c2pa `Context` (thumbnails, claim generator, our EKU list, the studio's trust anchors)
and one c2pa `Signer`, and reuses them for every image: per image only a `Builder` is
created.  The trust anchors are there for ingredients: when an ingredient carries its own
manifest store, c2pa validates it while adding it and records the verdict (trusted or not,
valid or not) in the ingredient assertion, and that verdict must use the studio's anchors.
A manifest with a `parentOf` ingredient is built with c2pa's EDIT intent, which makes c2pa
itself refuse one without its parent.

Thread safety: `sign` may be called from several threads at once.  Each call has its own
`Builder`; the shared `Context` and `Signer` are only borrowed (c2pa-python allows
concurrent shared use of both), and plugins' `sign` must be thread-safe (the local signer's is).
"""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance.credentials.keys import describe_certificate, parse_certificate_chain
from provenance.credentials.manifest import ingredient_definitions, software_agent
from provenance.credentials.signers import open_signer
from provenance.credentials.trust import signing_settings
from provenance.errors import BadInputError, ProvenantError, SigningError, translate_errors
from provenance.imageio import read_file, sniff_mime
from provenance.types import InputImage

if TYPE_CHECKING:
    import c2pa

    from provenance.config import Settings
    from provenance.protocols import SignerPlugin

#: Formats we sign (the pipeline's output formats).
SIGNABLE_MIMES = ("image/png", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class SignedAsset:
    """Signed image bytes, the label of the manifest now active in them, and their digest."""

    data: bytes = field(repr=False)
    manifest_label: str
    sha256: str
    #: The manifest store c2pa wrote (kept in the ledger, served after the file lost it).
    manifest_store: bytes = field(default=b"", repr=False)


class CredentialSigner:
    """Signs images with one signer and one c2pa context (see module docstring)."""

    def __init__(
        self, plugin: SignerPlugin, context_settings: Mapping[str, Any], tsa_url: str | None
    ):
        import c2pa

        self._plugin = plugin
        chain_pem = plugin.certificate_chain_pem()
        self._chain = parse_certificate_chain(chain_pem, f"signer {plugin.name!r} chain")
        self._callback = _SignCallback(plugin)
        with translate_errors("setting up c2pa signing"):
            self._context = c2pa.Context.from_dict(dict(context_settings))
            self._signer = c2pa.Signer.from_callback(
                self._callback, _c2pa_algorithm(plugin.algorithm()), chain_pem.decode(), tsa_url
            )

    @classmethod
    def from_settings(
        cls, settings: Settings, soft_binding_algorithms: Sequence[str] = ()
    ) -> CredentialSigner:
        """Open the configured signer (checking its chain) and prepare c2pa once.

        `soft_binding_algorithms` lists every soft-binding `alg` the manifests may declare
        (`provenance.softbinding.marking.algorithms()`, passed by the studio); newer c2pa
        fails unlisted ones."""
        from provenance.credentials.parent import studio_trust_settings

        manifest = settings.manifest
        context = signing_settings(
            thumbnail=manifest.thumbnail,
            thumbnail_long_edge=manifest.thumbnail_long_edge,
            claim_generator=software_agent(),
        )
        trust = studio_trust_settings(settings)
        context["trust"] = trust["trust"]
        context["verify"] = {**context["verify"], **trust["verify"]}
        if soft_binding_algorithms:
            context["soft_binding"] = {"soft_binding_algorithms": list(soft_binding_algorithms)}
        return cls(open_signer(settings), context, settings.signing.tsa_url)

    def __repr__(self) -> str:
        return f"CredentialSigner(signer={self._plugin!r})"

    def sign(
        self,
        asset: bytes,
        mime: str,
        manifest: Mapping[str, Any],
        ingredients: Sequence[InputImage] = (),
    ) -> SignedAsset:
        """Embed signed credentials for `manifest` in `asset` (PNG, JPEG or WebP bytes).

        `ingredients` must be the `ManifestSpec.ingredients` the manifest was built from;
        each file is re-read and must still have the digest it was described with.
        """
        import c2pa

        if mime not in SIGNABLE_MIMES:
            raise BadInputError(f"cannot sign {mime}; Provenant signs {', '.join(SIGNABLE_MIMES)}")
        if sniff_mime(asset) != mime:
            raise BadInputError(f"asset bytes are not {mime}")
        label = f"urn:c2pa:{uuid.uuid4()}"
        definition = {**manifest, "label": label}
        out = io.BytesIO()
        self._callback.pop_failure()  # nothing stale from an earlier call on this thread
        try:
            with translate_errors("signing credentials"):
                builder = c2pa.Builder(definition, context=self._context)
                with builder:
                    if any(i.relationship == "parentOf" for i in ingredients):
                        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
                    _add_ingredients(builder, ingredients)
                    store = builder.sign(self._signer, mime, io.BytesIO(asset), out)
        except SigningError:
            failure = self._callback.pop_failure()
            if failure is None:
                raise
            detail = getattr(failure, "diagnostics", lambda: str(failure))()
            raise SigningError(f"signer {self._plugin.name!r} failed: {detail}") from failure
        data = out.getvalue()
        return SignedAsset(
            data=data,
            manifest_label=label,
            sha256=hashlib.sha256(data).hexdigest(),
            manifest_store=bytes(store or b""),
        )

    def certificate_info(self) -> dict[str, Any]:
        """The signing certificate as the ledger's `signing_keys` table records it."""
        leaf = describe_certificate(self._chain[0])
        return {
            "signer": self._plugin.name,
            "algorithm": self._plugin.algorithm(),
            "subject": leaf["subject"],
            "issuer": leaf["issuer"],
            "serial": leaf["serial"],
            "fingerprint": leaf["sha256_fingerprint"],
            "not_before": leaf["not_before"],
            "not_after": leaf["not_after"],
        }

    def close(self) -> None:
        """Release the native c2pa signer and context."""
        self._signer.close()
        self._context.close()

    def __enter__(self) -> CredentialSigner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _SignCallback:
    """What c2pa calls to sign: the plugin, with its failure kept for `sign` to report.

    c2pa-python swallows exceptions raised inside the callback (it only sees "no
    signature"); we remember the plugin's error per thread and re-raise it with context.
    """

    def __init__(self, plugin: SignerPlugin) -> None:
        self._plugin = plugin
        self._failures = threading.local()

    def __call__(self, data: bytes) -> bytes:
        try:
            return self._plugin.sign(data)
        except (ProvenantError, OSError, ValueError) as exc:
            self._failures.error = exc
            return b""

    def pop_failure(self) -> BaseException | None:
        error: BaseException | None = getattr(self._failures, "error", None)
        self._failures.error = None
        return error


def _add_ingredients(builder: c2pa.Builder, ingredients: Sequence[InputImage]) -> None:
    for definition, image in zip(ingredient_definitions(ingredients), ingredients, strict=True):
        data = read_file(image.path)
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise SigningError(f"{image.path}: input image changed since it was screened")
        builder.add_ingredient(definition, sniff_mime(data, image.path), io.BytesIO(data))


def _c2pa_algorithm(name: str) -> c2pa.C2paSigningAlg:
    import c2pa

    try:
        return c2pa.C2paSigningAlg[name.upper()]
    except KeyError:
        raise SigningError(f"c2pa does not support signing algorithm {name!r}") from None
