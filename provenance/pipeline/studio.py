"""The pipeline, exactly as DESIGN.md draws it, behind one Python API.

    request -> screen prompt + input images -> generate -> screen each image
            -> build manifest -> sign (C2PA) -> atomic write + ledger row

    >>> from provenance import Studio, GenerationRequest                     # doctest: +SKIP
    >>> with Studio.from_config() as studio:                                 # doctest: +SKIP
    ...     result = studio.generate(GenerationRequest("a lighthouse", "gan"), "out")

Refusals are enforced in one place per stage (`Verdict.enforce`): a prompt or input image that
a policy refuses is recorded in the ledger and raises `PolicyBlocked` before any generation;
an output that the image screen refuses is recorded and never written.  The CLI
(`provenant generate`, `demo`) is a thin layer over this class.

Policies fail closed: before the first screen the studio checks that every policy layer can
run (`PolicySet.check_layers`).  A layer that cannot (no CLIP checkpoint, no Open-NSFW
model) stops the studio with an error naming the missing model, unless `[policies]
degraded` names it; a bypassed layer is warned about once per studio (once per command) and
written into every manifest's policy assertion and every ledger row.
"""

from __future__ import annotations

import secrets
from collections.abc import Container, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.config import Settings
from provenance.errors import PolicyBlocked
from provenance.ids import output_filename, validate_request_id
from provenance.imageio import MIME_BY_FORMAT, encode_image
from provenance.pipeline.policyset import PolicySet, bypass_record
from provenance.pipeline.publish import Publication, Sealed, commit_sealed, seal, timed
from provenance.pipeline.recording import refusal_id, refusal_record
from provenance.pipeline.results import GenerationResult, ImageResult, RefusalResult
from provenance.plugins import get_generator
from provenance.types import Attribution, GeneratedImage, GenerationRequest
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.credentials.parent import CredentialReader
    from provenance.credentials.signing import CredentialSigner
    from provenance.ledger import Ledger
    from provenance.pipeline.store import AssetStore, StoredAsset
    from provenance.protocols import Generator, LayerStatus

#: Seeds are drawn from [0, 2**31) when a request brings none, and recorded.
SEED_RANGE = 2**31


@dataclass
class Planned:
    """A request ready for its pixels: prepared (seed fixed), screened, with its model card.

    `pending` are the image indices not yet recorded (a resumed request makes only those).
    """

    request: GenerationRequest
    pending: tuple[int, ...]
    prompt_verdict: Verdict
    timings: dict[str, float] = field(default_factory=dict)


class Studio:
    """Settings, ledger, signer, policies and loaded generators, reused across requests."""

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: Ledger | None = None,
        signer: CredentialSigner | None = None,
        policies: PolicySet | None = None,
    ) -> None:
        self.settings = settings
        self._ledger = ledger
        self._signer = signer
        self._policies = policies
        self._store: AssetStore | None = None
        self._generators: dict[tuple[str, str | None], Generator] = {}
        self._recovered: set[Path] = set()
        self._prompt_salt: bytes | None = None
        self._fingerprint: str | None = None
        self._bypassed: tuple[LayerStatus, ...] | None = None
        self._reader: CredentialReader | None = None

    @classmethod
    def from_config(
        cls, home: str | Path | None = None, config: str | Path | None = None
    ) -> Studio:
        """A studio for the data dir and config file that settings resolve to."""
        return cls(Settings.load(home=home, config_file=config))

    # -- parts, opened on first use ------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        """The ledger database, checked to be migrated to this version's schema."""
        if self._ledger is None:
            from provenance.ledger import Ledger

            ledger = Ledger.from_settings(self.settings)
            ledger.require_current()
            self._ledger = ledger
        return self._ledger

    @property
    def store(self) -> AssetStore:
        """Atomic file + ledger commits."""
        if self._store is None:
            from provenance.pipeline.store import AssetStore

            self._store = AssetStore(self.ledger)
        return self._store

    @property
    def signer(self) -> CredentialSigner:
        """The C2PA signer; its certificate is recorded in the ledger when first opened."""
        if self._signer is None:
            from provenance.credentials.signing import CredentialSigner
            from provenance.softbinding.marking import algorithms

            signer = CredentialSigner.from_settings(self.settings, algorithms())
            self.ledger.record_signing_key(signer.certificate_info())
            self._signer = signer
        return self._signer

    @property
    def signer_fingerprint(self) -> str:
        """SHA-256 fingerprint of the signing certificate (recorded on every asset row)."""
        if self._fingerprint is None:
            self._fingerprint = str(self.signer.certificate_info()["fingerprint"])
        return self._fingerprint

    @property
    def policies(self) -> PolicySet:
        """The enabled policies, checked to be able to run (see the module docstring)."""
        if self._policies is None:
            self._policies = PolicySet.from_settings(self.settings, self.ledger)
        if self._bypassed is None:
            self._bypassed = self._policies.check_layers(self.settings.policies.degraded)
        return self._policies

    @property
    def degraded_layers(self) -> dict[str, str]:
        """The bypassed policy layers as manifests and ledger rows record them."""
        _ = self.policies
        return bypass_record(self._bypassed or ())

    @property
    def credential_reader(self) -> CredentialReader:
        """Reads the credentials that input files already carry, with the studio's trust."""
        if self._reader is None:
            from provenance.credentials.parent import CredentialReader

            self._reader = CredentialReader.from_settings(self.settings)
        return self._reader

    @property
    def prompt_salt(self) -> bytes | None:
        """The studio's salt for prompt hashes (only when prompts are kept as hashes)."""
        if self.settings.manifest.prompt != "salted_hash":
            return None
        if self._prompt_salt is None:
            from provenance.credentials.keys import ensure_prompt_salt

            self._prompt_salt = ensure_prompt_salt(self.settings.keys_dir)
        return self._prompt_salt

    def generator_for(self, request: GenerationRequest) -> Generator:
        """The generator plugin for a request's (name, model), constructed once and reused."""
        key = (request.generator, request.model)
        if key not in self._generators:
            cls = get_generator(request.generator)
            options = self.settings.generators.options_for(request.generator)
            self._generators[key] = cls(request.model, options, self.settings)
        return self._generators[key]

    def use_generator(self, name: str, model: str | None, generator: Generator) -> None:
        """Serve requests for (`name`, `model`) with an already-loaded generator.

        For applications that build a model in memory (and benchmarks that compare the
        pipeline with the bare generator on the very same object); every request still goes
        through screening, signing and the ledger.
        """
        self._generators[(name, model)] = generator

    def close(self) -> None:
        """Release the signer and database connections."""
        if self._signer is not None:
            self._signer.close()
        if self._reader is not None:
            self._reader.close()
        if self._ledger is not None:
            self._ledger.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the pipeline --------------------------------------------------------------------------

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Fill what a request may leave out (seed, declared use) and check its id."""
        validate_request_id(request.request_id)
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_RANGE)
        use = request.use or self.settings.policies.default_use
        return replace(request, seed=seed, use=use)

    def recover(self, out_dir: Path) -> None:
        """Finish or undo commits that a crash interrupted in `out_dir` (once per run)."""
        directory = Path(out_dir).absolute()
        if directory not in self._recovered:
            self.store.recover(directory)
            self._recovered.add(directory)

    def generate(self, request: GenerationRequest, out_dir: str | Path) -> GenerationResult:
        """Screen, generate, screen, sign and record one request into `out_dir`.

        Raises `PolicyBlocked` (after recording the refusal) when the prompt or an input image
        is refused.  Re-running a request id that was already done records nothing twice.
        """
        planned = self.plan(request, out_dir)
        if isinstance(planned, GenerationResult):
            return planned
        generator = self.generator_for(planned.request)
        with timed(planned.timings, "generate"):
            images = generator.generate(planned.request)
        return self.finish(planned, images, out_dir)

    def plan(self, request: GenerationRequest, out_dir: str | Path) -> Planned | GenerationResult:
        """Everything before generation: seed fixed, crash recovery, skip checks, prompt screen.

        Returns a skipped result when nothing is left to do, else the `Planned` request whose
        pixels any executor may produce (here, or on a remote worker: the seed is fixed now,
        so a retry elsewhere makes the same images).  Raises `PolicyBlocked` as `generate`.
        """
        out = Path(out_dir)
        timings: dict[str, float] = {}
        request = self.prepare(request)
        # Before the skip checks: a request whose rows all exist may still have a file that
        # an interruption left unrenamed, and only recovery puts it in place.
        self.recover(out)
        state = self.ledger.request_state(request.request_id)
        if state.refused:
            return _skipped(request, f"refused earlier at the {state.refusal_stage} stage")
        pending = tuple(i for i in range(request.num_images) if not state.is_done(i))
        if not pending:
            return _skipped(request, "already done")
        generator = self.generator_for(request)
        _ = self.policies  # a policy layer that cannot run stops the request before any work
        request = request.with_model_card(generator.model_info())
        with timed(timings, "screen_prompt"):
            prompt_verdict = self._screen_request(request)
        return Planned(request, pending, prompt_verdict, timings)

    def finish(
        self, planned: Planned, images: Sequence[GeneratedImage], out_dir: str | Path
    ) -> GenerationResult:
        """Screen, sign and record the generated pixels of a planned request (here only).

        Each output is committed in its own transaction as soon as it is signed."""
        result = _result_for(planned)
        for image in images:
            if image.index in planned.pending:
                sealed = self._seal_image(planned, image, Path(out_dir), result)
                if sealed is not None:
                    published = commit_sealed(self, sealed.sealed, result.timings_ms)
                    result.images.append(sealed.image_result(published.stored))
        return _concluded(planned.request, result, bool(result.images))

    def seal(
        self,
        planned: Planned,
        images: Sequence[GeneratedImage],
        out_dir: str | Path,
        reserved: Container[int] = (),
    ) -> SealedRequest:
        """Screen and sign a planned request's pixels, leaving the commits to the caller.

        For a recorder that commits many requests' outputs in one ledger transaction
        (`provenance.pipeline.recorder`).  Refused images are recorded here, as in `finish`,
        and `PolicyBlocked` is raised when every image was refused.  `reserved`: watermark
        ids of outputs sealed earlier whose rows are not committed yet.
        """
        result = _result_for(planned)
        outputs: list[SealedImage] = []
        taken = _Reserved(reserved)
        for image in images:
            if image.index in planned.pending:
                sealed = self._seal_image(planned, image, Path(out_dir), result, taken)
                if sealed is not None:
                    outputs.append(sealed)
                    if sealed.sealed.watermark_id is not None:
                        taken.add(sealed.sealed.watermark_id)
        _concluded(planned.request, result, bool(outputs))
        return SealedRequest(result, tuple(outputs))

    def _screen_request(self, request: GenerationRequest) -> Verdict:
        """Prompt screen, then input-image screens; a refusal is recorded and raised here."""
        verdict = self.policies.screen_prompt(request)
        self.enforce(verdict, request, "prompt", None, None)
        inputs = [self.policies.screen_input(i, request) for i in request.input_images]
        if inputs:
            input_verdict = Verdict.combine(inputs)
            self.enforce(input_verdict, request, "input", None, None)
            verdict = Verdict.combine([verdict, input_verdict])
        return verdict

    def enforce(
        self,
        verdict: Verdict,
        request: GenerationRequest,
        stage: str,
        index: int | None,
        image_sha256: str | None,
    ) -> None:
        """The one place a refusing verdict stops work: record the refusal, then raise.

        `index` names the refused image (None: the whole request); `image_sha256` is the
        digest of the refused image's encoding, so an auditor can match a later copy.
        """
        try:
            verdict.enforce(stage)
        except PolicyBlocked:
            record = refusal_record(
                request,
                stage,
                verdict,
                index,
                image_sha256,
                self.prompt_salt,
                self.settings,
                self.degraded_layers,
            )
            self.ledger.append_refusal(record)
            raise

    def _seal_image(
        self,
        planned: Planned,
        image: GeneratedImage,
        out_dir: Path,
        result: GenerationResult,
        reserved: Container[int] = (),
    ) -> SealedImage | None:
        """Screen and sign one output; a refused image is recorded, not signed (None)."""
        request, prompt_verdict = planned.request, planned.prompt_verdict
        mime = MIME_BY_FORMAT[self.settings.manifest.output_format]
        timings = result.timings_ms
        with timed(timings, "screen_image"):
            image_verdict = self.policies.screen_image(image, request)
        with timed(timings, "encode"):
            data = encode_image(image.pixels, mime, self.settings.manifest.jpeg_quality)
        if image_verdict.refuses:
            import hashlib

            digest = hashlib.sha256(data).hexdigest()
            try:
                self.enforce(image_verdict, request, "image", image.index, digest)
            except PolicyBlocked:
                rid = refusal_id(request.request_id, "image", image.index)
                result.refusals.append(RefusalResult(rid, "image", image.index, image_verdict))
            return None
        filename = output_filename(request.request_id, image.index, mime)
        sealed = seal(
            self,
            Publication(
                request=request,
                image=image,
                data=data,
                mime=mime,
                verdicts=(prompt_verdict, image_verdict),
                attributions=_merge_attributions(prompt_verdict, image_verdict),
                out_dir=out_dir,
                filename=filename,
                seed=image.seed,
                params=image.params,
                ingredients=request.input_images,
            ),
            timings,
            reserved,
        )
        return SealedImage(sealed, image_verdict)


@dataclass(frozen=True)
class SealedImage:
    """One output signed, with its image verdict, waiting for its commit."""

    sealed: Sealed
    verdict: Verdict

    def image_result(self, stored: StoredAsset) -> ImageResult:
        """The result entry of this output once its file and row are committed."""
        signed = self.sealed.signed
        return ImageResult(
            index=self.sealed.pub.image.index,
            asset_id=self.sealed.asset_id,
            path=stored.path,
            sha256=signed.sha256,
            seed=self.sealed.pub.image.seed,
            manifest_label=signed.manifest_label,
            verdict=self.verdict,
        )


@dataclass(frozen=True)
class SealedRequest:
    """A request whose outputs are screened and signed but not committed (`Studio.seal`).

    `result` already holds the refusals and timings; committing the outputs adds their
    `ImageResult`s (`SealedImage.image_result`)."""

    result: GenerationResult
    outputs: tuple[SealedImage, ...]


class _Reserved:
    """Watermark ids held by uncommitted outputs: the caller's, plus this request's."""

    def __init__(self, outer: Container[int]) -> None:
        self.outer = outer
        self.own: set[int] = set()

    def add(self, value: int) -> None:
        self.own.add(value)

    def __contains__(self, value: object) -> bool:
        return value in self.own or value in self.outer


def _result_for(planned: Planned) -> GenerationResult:
    request = planned.request
    return GenerationResult(
        request.request_id, "done", planned.prompt_verdict, timings_ms=planned.timings
    )


def _concluded(
    request: GenerationRequest, result: GenerationResult, any_output: bool
) -> GenerationResult:
    """`partial` when some image was refused; `PolicyBlocked` when every one was."""
    if result.refusals:
        result.status = "partial"
        if not any_output:
            verdict = Verdict.combine(r.verdict for r in result.refusals)
            raise PolicyBlocked(f"every image of {request.request_id} refused", verdict)
    return result


def _merge_attributions(*verdicts: Verdict) -> list[Attribution]:
    """Credited works from all stages, once per work (the highest-scoring match kept)."""
    best: dict[str, Attribution] = {}
    for verdict in verdicts:
        for attribution in verdict.attributions:
            kept = best.get(attribution.work_id)
            if kept is None or attribution.score > kept.score:
                best[attribution.work_id] = attribution
    return list(best.values())


def _skipped(request: GenerationRequest, note: str) -> GenerationResult:
    return GenerationResult(request.request_id, "skipped", Verdict.allow(), note=note)
