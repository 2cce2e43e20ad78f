"""`provenant audit verify-chain` and `audit checkpoint`: ledger integrity for auditors.

`verify-chain` recomputes every row hash (exit 4 naming the first bad row); with
`--checkpoint` it also checks a signed checkpoint, so a ledger cut short or rewritten since
the checkpoint is caught even if every hash was recomputed.  `checkpoint` signs the current
head with the studio's signer.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._audit_group import attach, audit_app
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_VERIFICATION_FAILED, BadInputError, ChainBrokenError, ConfigError

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.ledger import Ledger
    from provenance.protocols import SignerPlugin


def _open_ledger(settings: Settings, *, read_only: bool) -> Ledger:
    from provenance.ledger import Ledger

    ledger = Ledger.from_settings(settings, read_only=read_only)
    ledger.require_current()
    return ledger


def _open_signer(settings: Settings) -> SignerPlugin:
    from provenance.credentials.signers import open_signer

    return open_signer(settings)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BadInputError(f"{path}: cannot read {what} ({reason})") from exc


def _checkpoint_key(settings: Settings, key: Path | None) -> bytes:
    path = key or settings.chain_path
    if not path.is_file():
        raise ConfigError(f"{path}: no certificate to check the checkpoint with; pass --key PEM")
    return path.read_bytes()


@audit_app.command("verify-chain")
def verify_chain(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Also check this signed checkpoint note.")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="PEM certificate or public key for --checkpoint "
            "(default: the configured signing chain).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Recompute the ledger's hash chain; exit 4 naming the first bad row if it is broken."""
    settings = state(ctx).settings
    note = _read_text(checkpoint, "checkpoint") if checkpoint is not None else None
    public_key = _checkpoint_key(settings, key) if checkpoint is not None else b""
    ledger = _open_ledger(settings, read_only=True)
    try:
        total = ledger.head()[0]
        with _output.progress("verifying ledger chain", total, enabled=not json) as bar:
            report = ledger.verify_chain(progress=bar.advance)
        result: dict[str, Any] = {"chain": report.as_dict(), "ok": report.ok}
        problems = [] if report.ok else [report.describe()]
        if note is not None:
            from provenance.ledger.checkpoint import verify_checkpoint

            checked = verify_checkpoint(ledger, note, public_key)
            result["checkpoint"] = {"file": str(checkpoint), **checked.as_dict()}
            result["ok"] = result["ok"] and checked.ok
            if not checked.ok:
                problems.append(checked.describe())
    finally:
        ledger.close()
    _report_verification(result, report.describe(), problems, json)


def _report_verification(
    result: dict[str, Any], summary: str, problems: list[str], json: bool
) -> None:
    if json:
        _output.emit_json(result)
        if problems:
            raise typer.Exit(EXIT_VERIFICATION_FAILED)
        return
    if problems:
        raise ChainBrokenError("; ".join(problems))
    _output.info(summary)
    if "checkpoint" in result:
        cp = result["checkpoint"]
        _output.info(f"checkpoint {cp['origin']} at size {cp['tree_size']} matches the ledger")


def _default_checkpoint_path(settings: Settings, size: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.home / "checkpoints" / f"checkpoint-{size:08d}-{stamp}.txt"


def _write_new_file(path: Path, text: str) -> None:
    """Write `text` to a file that must not exist yet (checkpoints are evidence: never clobber)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except FileExistsError as exc:
        raise BadInputError(f"{path}: already exists; refusing to overwrite a checkpoint") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write checkpoint ({exc.strerror or exc})") from exc


@audit_app.command("checkpoint")
def checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the note (must not exist).")
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="Log origin line (default: from the ledger id).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Verify the chain, then sign its current head as a C2SP checkpoint note."""
    from provenance.ledger.checkpoint import NoteKey, load_public_key, make_checkpoint, parse_note

    settings = state(ctx).settings
    signer = _open_signer(settings)
    ledger = _open_ledger(settings, read_only=False)  # the checkpoint is stored in it
    try:
        with _output.progress("signing checkpoint", None, enabled=not json):
            note = make_checkpoint(ledger, signer, origin)
    finally:
        ledger.close()
    parsed, _ = parse_note(note)
    path = out or _default_checkpoint_path(settings, parsed.tree_size)
    _write_new_file(path, note)
    key = NoteKey.from_public_key(parsed.origin, load_public_key(signer.certificate_chain_pem()))
    result = {
        "path": str(path),
        "origin": parsed.origin,
        "tree_size": parsed.tree_size,
        "root_hash": base64.b64encode(parsed.root_hash).decode(),
        "verifier_key": key.verifier_key(),
    }
    if json:
        _output.emit_json(result)
    else:
        _output.info(f"checkpoint of {parsed.tree_size} entries written to {path}")
        _output.info(f"verifier key: {result['verifier_key']}")


def register(app: typer.Typer) -> None:
    """Add `audit verify-chain` and `audit checkpoint` to the shared `audit` group."""
    attach(app)
