"""`provenant keys create|show`: the development CA, and what signs and what is trusted.

`keys show --json` is read by scripts; its field names are a contract: `signer`,
`signing_chain`, `private_key`, `private_key_mode`, `trust_anchors`,
`allowed_certificates`, `prompt_salt`, `certificates` (each with `role`, `path`,
`subject`, `issuer`, `serial`, `not_before`, `not_after`, `sha256_fingerprint`, `is_ca`,
`valid_now`), `problems` and `ok`.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.credentials.trust import DEFAULT_ORGANISATION

if TYPE_CHECKING:
    from cryptography import x509

    from provenance.config import Settings

keys_app = typer.Typer(
    help="Create and inspect signing keys and trust anchors.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the `keys` group to the app."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing development keys.")
    ] = False,
    organisation: Annotated[
        str, typer.Option("--organisation", help="Organisation named in the certificates.")
    ] = DEFAULT_ORGANISATION,
    json: JsonOption = False,
) -> None:
    """Create a development CA and signing certificate in the data dir's keys/ folder."""
    from provenance.credentials.keys import DEV_CA_NOTICE, create_dev_ca, ensure_prompt_salt

    settings = state(ctx).settings
    creds = create_dev_ca(settings.keys_dir, organisation, force=force)
    ensure_prompt_salt(settings.keys_dir)
    if json:
        _output.emit_json({"created": True, "development_only": True, **creds.as_dict()})
        return
    from rich.markup import escape

    _output.info(
        f"created development CA and signing certificate in {escape(str(settings.keys_dir))}"
    )
    _output.warn(escape(DEV_CA_NOTICE))


@keys_app.command("show")
def show(ctx: typer.Context, json: JsonOption = False) -> None:
    """Show the signing chain, the key, the trust anchors and their validity."""
    summary = describe_keys(state(ctx).settings)
    if json:
        _output.emit_json(summary)
        return
    _print_summary(summary)


def describe_keys(settings: Settings) -> dict[str, Any]:
    """What signs and what is trusted, without loading the private key (no passphrase needed)."""
    from provenance.credentials.keys import load_certificate_chain

    local = settings.signing.signer == "local"
    chain = load_certificate_chain(settings.chain_path) if local else _plugin_chain(settings)
    problems = _chain_problems(chain)
    certificates = [
        _certificate_entry("signing" if i == 0 else "intermediate", settings.chain_path, c)
        for i, c in enumerate(chain)
    ]
    for role, paths in (
        ("trust_anchor", settings.trust.anchors),
        ("allowed_certificate", settings.trust.allowed_certificates),
    ):
        for path in paths:
            certificates.extend(_file_entries(role, path, problems))
    key_mode = _key_mode(settings.key_path, problems) if local else None
    salt = settings.keys_dir / "prompt-salt"
    return {
        "signer": settings.signing.signer,
        "signing_chain": str(settings.chain_path) if local else None,
        "private_key": str(settings.key_path) if local else None,
        "private_key_mode": key_mode,
        "trust_anchors": [str(p) for p in settings.trust.anchors],
        "allowed_certificates": [str(p) for p in settings.trust.allowed_certificates],
        "prompt_salt": str(salt) if salt.exists() else None,
        "certificates": certificates,
        "problems": problems,
        "ok": not problems,
    }


def _plugin_chain(settings: Settings) -> list[x509.Certificate]:
    from provenance.credentials.keys import parse_certificate_chain
    from provenance.plugins import get_signer

    signer = get_signer(settings.signing.signer)(settings)
    return parse_certificate_chain(signer.certificate_chain_pem(), f"signer {signer.name!r}")


def _chain_problems(chain: list[x509.Certificate]) -> list[str]:
    from provenance.credentials.keys import check_signing_certificate
    from provenance.errors import CertificateError

    try:
        check_signing_certificate(chain)
    except CertificateError as exc:
        return [exc.diagnostics()]
    return []


def _certificate_entry(role: str, path: Path, cert: x509.Certificate) -> dict[str, Any]:
    from provenance.credentials.keys import describe_certificate

    now = dt.datetime.now(dt.UTC)
    valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    return {"role": role, "path": str(path), **describe_certificate(cert), "valid_now": valid}


def _file_entries(role: str, path: Path, problems: list[str]) -> list[dict[str, Any]]:
    from provenance.credentials.keys import load_certificate_chain
    from provenance.errors import CertificateError

    try:
        return [_certificate_entry(role, path, c) for c in load_certificate_chain(path)]
    except CertificateError as exc:
        problems.append(exc.diagnostics())
        return []


def _key_mode(path: Path, problems: list[str]) -> str | None:
    from provenance.credentials.keys import check_key_file_permissions
    from provenance.errors import KeyFileError

    try:
        check_key_file_permissions(path)
    except KeyFileError as exc:
        problems.append(exc.diagnostics())
    try:
        return f"{stat.S_IMODE(os.stat(path).st_mode):04o}"
    except OSError:
        return None


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    _output.info(f"signer:        {summary['signer']}")
    if summary["signing_chain"]:
        _output.info(f"signing chain: {escape(summary['signing_chain'])}")
        mode = summary["private_key_mode"] or "missing"
        _output.info(f"private key:   {escape(summary['private_key'])} (mode {mode})")
    anchors = ", ".join(summary["trust_anchors"]) or "none (nothing verifies as trusted)"
    _output.info(f"trust anchors: {escape(anchors)}")
    for cert in summary["certificates"]:
        state_text = "valid" if cert["valid_now"] else "[red]NOT VALID NOW[/]"
        _output.info(f"\n[bold]{cert['role']}[/]  {escape(cert['subject'])}")
        _output.info(f"  issuer:  {escape(cert['issuer'])}")
        _output.info(f"  valid:   {cert['not_before']} .. {cert['not_after']} ({state_text})")
        _output.info(f"  sha256:  {cert['sha256_fingerprint']}")
    for problem in summary["problems"]:
        _output.warn(escape(problem))
