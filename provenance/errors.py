"""One error root for Provenant.

Every failure a user can cause or meet (bad input, bad config, a refused policy, a broken
signature, an unreachable database) is a `ProvenantError` subclass.  The library raises these
with the foreign cause chained (`raise ... from e`); only the CLI edge turns them into a
one-line message and an exit code, so library callers keep full tracebacks and types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

#: Exit codes shared by every command (DESIGN.md).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_VERIFICATION_FAILED = 4
#: `verify`: no trusted embedded credentials, but the image was found in the ledger by its
#: watermark or fingerprint (recovery points at a record; it never makes a file trusted).
EXIT_RECOVERED = 5


class ProvenantError(Exception):
    """Root of every error Provenant raises on purpose."""

    exit_code: ClassVar[int] = EXIT_ERROR

    def diagnostics(self) -> str:
        """A one-line, human explanation fit for a terminal (no traceback)."""
        message = str(self) or self.__class__.__name__
        return " ".join(message.split())


class ConfigError(ProvenantError):
    """Settings, plugin options or a config file are missing or malformed."""


class BadInputError(ProvenantError):
    """A file, image, prompt or argument given by the user cannot be used."""


class UsageError(BadInputError):
    """A command-line option has a value the command cannot use (exit 2, one line)."""

    exit_code = EXIT_USAGE


class PolicyLayerUnavailableError(ConfigError):
    """A configured policy layer cannot run here and `[policies] degraded` does not name it."""


class UnknownPluginError(ConfigError):
    """A plugin name was asked for that no installed package registers."""

    def __init__(self, kind: str, name: str, installed: list[str]) -> None:
        listed = ", ".join(sorted(installed)) or "none"
        super().__init__(f"unknown {kind} {name!r}; installed: {listed}")
        self.kind = kind
        self.name = name
        self.installed = sorted(installed)


class UnknownGeneratorError(UnknownPluginError):
    """No generator plugin of that name is installed."""

    def __init__(self, name: str, installed: list[str]) -> None:
        super().__init__("generator", name, installed)


class UnknownPolicyError(UnknownPluginError):
    """No policy plugin of that name is installed."""

    def __init__(self, name: str, installed: list[str]) -> None:
        super().__init__("policy", name, installed)


class UnknownSignerError(UnknownPluginError):
    """No signer plugin of that name is installed."""

    def __init__(self, name: str, installed: list[str]) -> None:
        super().__init__("signer", name, installed)


class PluginValidationError(ConfigError):
    """A plugin does not provide the members its protocol requires (checked at load)."""


class GenerationError(ProvenantError):
    """A generator could not load its model or produce an image."""


class WeightsError(GenerationError):
    """Model weights are missing, incomplete, corrupt or of the wrong shape."""


class DeviceError(GenerationError):
    """The requested compute device is not available."""


class PolicyBlocked(ProvenantError):
    """A policy verdict forbids the request; nothing was generated or signed past it."""

    exit_code = EXIT_BLOCKED

    def __init__(self, message: str, verdict: object | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


class SigningError(ProvenantError):
    """Credentials could not be produced: bad key, bad certificate, c2pa failure."""


class CertificateError(SigningError):
    """A signing certificate is expired, not yet valid, or lacks required extensions."""


class KeyFileError(SigningError):
    """A private key file is missing, unreadable, world-readable or wrongly encrypted."""


class VerificationError(ProvenantError):
    """Credentials or the ledger failed verification."""

    exit_code = EXIT_VERIFICATION_FAILED


class LedgerError(ProvenantError):
    """The ledger database is unreachable, unmigrated or refused a write."""


class LedgerMissingError(LedgerError):
    """No ledger database exists where the settings point (read-only commands never make one)."""


class ChainBrokenError(VerificationError):
    """The ledger hash chain does not verify; names the first bad row."""


class DuplicateRecordError(LedgerError):
    """An entry with the same key (asset id, request + image index) is already recorded.

    `existing` is the recorded `LedgerEntry` when it could be read, so a resumed batch can
    reuse it instead of writing a second row.
    """

    def __init__(self, message: str, existing: object | None = None) -> None:
        super().__init__(message)
        self.existing = existing


class StoreError(LedgerError):
    """An output file could not be written, renamed or recovered next to its ledger row."""


def _sqlalchemy_errors() -> tuple[type[BaseException], ...]:
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - sqlalchemy is a hard dependency
        return ()
    return (SQLAlchemyError,)


def _c2pa_errors() -> tuple[type[BaseException], ...]:
    try:
        from c2pa import C2paError
    except ImportError:  # pragma: no cover - c2pa is a hard dependency
        return ()
    return (C2paError,)


def _pil_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image, UnidentifiedImageError

    return (UnidentifiedImageError, Image.DecompressionBombError)


#: Foreign error families and the Provenant error each becomes.  A table, not an elif chain:
#: adding a library means adding a row.
_ErrorFamily = Callable[[], tuple[type[BaseException], ...]]
_FOREIGN_ERRORS: list[tuple[_ErrorFamily, type[ProvenantError]]] = [
    (_sqlalchemy_errors, LedgerError),
    (_c2pa_errors, SigningError),
    (_pil_errors, BadInputError),
]


@contextmanager
def translate_errors(
    context: str, *, override: type[ProvenantError] | None = None
) -> Iterator[None]:
    """Re-raise known foreign exceptions as Provenant errors with `context` prefixed.

    `override` picks the Provenant class to use instead of the table's default (e.g. a c2pa
    failure while *reading* is a `VerificationError`, not a `SigningError`).
    """
    try:
        yield
    except ProvenantError:
        raise
    except Exception as exc:
        for families, target in _FOREIGN_ERRORS:
            if isinstance(exc, families()):
                cls = override or target
                detail = " ".join(str(exc).split()) or exc.__class__.__name__
                raise cls(f"{context}: {detail}") from exc
        raise
