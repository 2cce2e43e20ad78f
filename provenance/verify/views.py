"""Human views of verification reports, as `c2patool` users know them.

summary (default): one table row per file; `--tree`: manifests, assertions and ingredients;
`--certs`: the signer's certificate as c2pa parsed it; `--detailed`: c2pa's detailed JSON.
Machine output is `VerificationReport.to_dict` (`--json`), not these.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from provenance.verify.report import State, VerificationReport

_STYLE = {
    State.TRUSTED: "green",
    State.VALID_UNTRUSTED: "yellow",
    State.INVALID: "bold red",
    State.NO_CREDENTIALS: "red",
    State.UNREADABLE: "magenta",
    State.ERROR: "bold magenta",
}


def _made_by(report: VerificationReport) -> str:
    model = report.model or {}
    parts = [report.generator or "", f"{model.get('name', '')} {model.get('version', '')}"]
    made = " / ".join(p.strip() for p in parts if p.strip())
    if report.seed is not None:
        made += f" (seed {report.seed})"
    return made or (report.claim_generator or "")


def _ledger_cell(report: VerificationReport) -> str:
    if report.ledger_error:
        return "[red]error[/]"
    if report.recovered:  # found by watermark or fingerprint, not by these bytes
        return "[yellow]recovered[/]"
    if report.ledger is None:
        return "-"
    return "[green]match[/]" if report.ledger.ok else "[red]mismatch[/]"


def _ai_cell(report: VerificationReport) -> str:
    if not report.ai_generated:
        return "-" if report.manifest_label is None else "no"
    inherited = (report.ai_disclosure or "").startswith("contains")
    return "yes (ingredient)" if inherited else "yes"


def render_summary(reports: Sequence[VerificationReport], console: Console) -> None:
    """A table of every file, the reasons of the files that are not ok, then a count."""
    table = Table(show_lines=False, expand=False)
    table.add_column("File", overflow="fold", min_width=16)
    table.add_column("Credentials", no_wrap=True)
    table.add_column("Signer", overflow="ellipsis", max_width=24, no_wrap=True)
    table.add_column("Made by", overflow="fold", min_width=14)
    table.add_column("AI", no_wrap=True)
    table.add_column("Ledger", no_wrap=True)
    for r in reports:
        style = _STYLE[r.state] if r.ok or r.state is not State.TRUSTED else "bold red"
        table.add_row(
            escape(str(r.path)),
            f"[{style}]{r.state.value}[/]",
            escape(r.signer.common_name or r.signer.subject) if r.signer else "-",
            escape(_made_by(r) or "-"),
            _ai_cell(r),
            _ledger_cell(r),
        )
    console.print(table)
    for r in reports:
        if not r.ok:
            reason = r.reason.removeprefix(f"{r.path}: ")
            console.print(f"[{_STYLE[r.state]}]{escape(str(r.path))}[/]: {escape(reason)}")
    console.print(summary_line(reports))


def summary_line(reports: Sequence[VerificationReport]) -> str:
    """`3 files: 2 trusted, 1 invalid` (plain text)."""
    counts = Counter(r.state.value for r in reports)
    parts = ", ".join(f"{n} {state}" for state, n in counts.most_common())
    noun = "file" if len(reports) == 1 else "files"
    mismatched = sum(1 for r in reports if r.state is State.TRUSTED and not r.ok)
    extra = f" ({mismatched} not matching the ledger)" if mismatched else ""
    return f"{len(reports)} {noun}: {parts}{extra}"


def render_tree(report: VerificationReport, console: Console) -> None:
    """The manifest store as a tree: active manifest first, assertions, ingredients."""
    style = _STYLE[report.state]
    root = Tree(f"{escape(str(report.path))}  [{style}]{report.state.value}[/]")
    store = report.manifest_store or {}
    manifests: Mapping[str, Any] = store.get("manifests") or {}
    if report.manifest_label and report.manifest_label in manifests:
        node = _add_manifest(root, report.manifest_label, manifests, depth=0)
        _add_trust(node, report)
        _add_lineage(root, report)
    else:
        root.add(escape(report.reason))
    console.print(root)


def _add_lineage(root: Tree, report: VerificationReport) -> None:
    """The chain of steps from the credentials alone (who did what, first input first)."""
    from provenance.credentials.lineage import credentials_lineage

    found = credentials_lineage(report.manifest_store or {}, report.path.name)
    style = "green" if found.clean else "bold red"
    branch = root.add(f"lineage: [{style}]{escape(found.summary())}[/]")
    for line in found.lines(compact=True)[:-1]:
        branch.add(escape(line))
    for problem in found.problems:
        branch.add(f"[bold red]{escape(problem)}[/]")


_TRUST_STYLE = {"trusted": "green", "untrusted": "yellow", "invalid": "bold red"}


def _add_trust(node: Tree, report: VerificationReport) -> None:
    """The claim signer's trust and each CAWG identity's, apart (a trusted signer may
    carry an untrusted identity, and the other way round)."""
    if report.ai_disclosure:
        node.add(escape(report.ai_disclosure))
    if report.signer_trust:
        style = _TRUST_STYLE.get(report.signer_trust, "white")
        node.add(f"claim signer: [{style}]{report.signer_trust}[/]")
    if not report.identities:
        return
    branch = node.add("identities")
    for identity in report.identities:
        style = _TRUST_STYLE.get(identity.trust, "white")
        subject = escape(identity.subject or "(unnamed)")
        child = branch.add(f"{escape(identity.label)}: [{style}]{identity.trust}[/]  {subject}")
        why = identity.trusted_by or ", ".join(identity.validation.failure_codes)
        for line in (why, identity.detail):
            if line:
                child.add(escape(line))
        if identity.referenced_assertions:
            child.add("covers " + escape(", ".join(identity.referenced_assertions)))


def _add_manifest(parent: Tree, label: str, manifests: Mapping[str, Any], depth: int) -> Tree:
    manifest = manifests.get(label) or {}
    signer = (manifest.get("signature_info") or {}).get("common_name", "?")
    node = parent.add(f"[bold]{escape(label)}[/]  signed by {escape(str(signer))}")
    assertions = node.add("assertions")
    for assertion in manifest.get("assertions") or []:
        assertions.add(escape(str(assertion.get("label", "?"))))
    ingredients = manifest.get("ingredients") or []
    if ingredients:
        branch = node.add("ingredients")
        for item in ingredients:
            text = f"{escape(str(item.get('title', '?')))} ({item.get('relationship', '?')})"
            child = branch.add(text)
            own = item.get("active_manifest")
            if own and own in manifests and depth < 8:
                _add_manifest(child, own, manifests, depth + 1)
    return node


def render_certs(report: VerificationReport, console: Console) -> None:
    """The signer's certificate as c2pa parsed it: subject, issuer, serial, validity.

    c2pa-python hands out no certificate bytes for the claim signer, so there is no PEM to
    print (`c2patool --certs` prints it from inside c2pa).
    """
    console.print(f"[bold]{escape(str(report.path))}[/]  {report.state.value}")
    if not report.certificate_chain:
        console.print(f"  no certificate: {escape(report.reason)}")
        return
    for index, cert in enumerate(report.certificate_chain):
        role = "signer" if index == 0 else f"issuer {index}"
        console.print(f"  {role}: [bold]{escape(str(cert.get('subject', '')))}[/]")
        console.print(f"    issuer:  {escape(str(cert.get('issuer', '')))}")
        console.print(f"    serial:  {escape(str(cert.get('serial', '')))}")
        valid = f"{cert.get('not_before') or '?'} .. {cert.get('not_after') or '?'}"
        console.print(f"    valid:   {escape(valid)}")
        if cert.get("pem"):
            console.print(str(cert["pem"]).rstrip(), markup=False, highlight=False)


def render_detailed(report: VerificationReport, console: Console) -> None:
    """c2pa's detailed manifest JSON for one file."""
    console.print(f"[bold]{escape(str(report.path))}[/]  {report.state.value}")
    if report.detailed is None:
        what = "no detailed JSON" if report.manifest_store else "no manifest"
        console.print(f"  {what}: {escape(report.reason)}")
        return
    console.print(json.dumps(report.detailed, indent=2), markup=False, highlight=False)
