"""Human-readable text for the audit commands (`--json` prints the documents themselves).

Prompts, requesters and work titles are user text: each is printed as plain text on one
line (control characters shown as `?`, never read as rich markup), so a hostile prompt can
neither restyle the terminal nor forge extra output lines.
"""

from __future__ import annotations

import re
from typing import Any

from provenance.cli import _output

PROMPT_CHARS = 60
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain(text: Any) -> str:
    """User text on one terminal line: control characters shown as `?`, whitespace folded."""
    return " ".join(_CONTROL.sub("?", str(text)).split())


def say(text: str) -> None:
    """One line of plain text on stdout (never read as rich markup: it holds user text)."""
    _output.stdout.print(text, markup=False, highlight=False)


def clip(text: str | None, limit: int = PROMPT_CHARS) -> str:
    """A prompt shortened to `limit` characters on one line."""
    if text is None:
        return "(prompt kept as a salted hash)"
    shown = plain(text) or "(no prompt)"
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def list_line(row: dict[str, Any]) -> str:
    """One `audit list` line: seq, time, kind, id, generator, verdict, requester, prompt."""
    when = str(row["created_at"])[:19].replace("T", " ")
    kind = row["kind"] if row["kind"] == "asset" else f"refusal/{row['stage']}"
    who = plain(row["requester"]) if row["requester"] else "-"
    return (
        f"{row['seq']:>6}  {when}  {kind:<15} {row['id']}  {plain(row['generator'] or '-')}  "
        f"{row['verdict']}  {who}  {clip(row['prompt'])}"
    )


def show_problems(document: dict[str, Any]) -> list[str]:
    """Why an entry found by `show` does not verify (empty when it does)."""
    problems = []
    if not document["chain"]["row_verifies"]:
        problems.append(f"{document['kind']} {document['id']}: row does not verify")
    file = document.get("file")
    if file is not None and "path" in document["matched_by"]:
        if not file["exists"]:
            problems.append(f"recorded at {file['path']}, but no file is there")
        elif not file["matches_record"]:
            problems.append(f"{file['path']}: file bytes differ from the recorded SHA-256")
    return problems


_SHOWN_FIELDS = (
    ("created_at", "recorded"),
    ("verdict", "verdict"),
    ("stage", "stage"),
    ("action", "action"),
    ("generator", "generator"),
    ("model_name", "model"),
    ("seed", "seed"),
    ("requester", "requester"),
    ("project", "project"),
    ("use", "declared use"),
    ("license", "licence"),
    ("prompt", "prompt"),
    ("prompt_hash", "prompt hash"),
    ("negative_prompt", "negative"),
    ("path", "path"),
    ("sha256", "sha256"),
    ("image_sha256", "image sha256"),
    ("manifest_label", "manifest"),
    ("request_id", "request"),
)


def show_entry(document: dict[str, Any]) -> None:
    """Print one `audit show` entry (its `Lookup.as_dicts()` form), one field a line."""
    record = {**document["record"], "verdict": document["verdict"]}
    chain = document["chain"]
    how = ", ".join(document["matched_by"])
    position = f"seq {chain['seq']} of {chain['head_seq']}"
    say(f"{document['kind']} {plain(document['id'])}  ({position}; found by {how})")
    for key, label in _SHOWN_FIELDS:
        if record.get(key) is not None:
            say(f"  {label:<13}{plain(record[key])}")
    for decision in record.get("decisions", []):
        say(f"  {'decision':<13}{_decision_text(decision)}")
    for credit in record.get("attributions", []):
        say(
            f"  {'credits':<13}{plain(credit['work_id'])} {plain(credit['title'])!r} "
            f"licence {plain(credit['license'] or '-')} "
            f"(similarity {credit['similarity']:.3f}, {plain(credit['method'])})"
        )
    for item in record.get("ingredients", []):
        title = plain(item["title"] or "-")
        say(f"  {'ingredient':<13}{plain(item['relationship'])} {title} sha256 {item['sha256']}")
    state_text = "verifies" if chain["row_verifies"] else "DOES NOT VERIFY"
    say(f"  {'row hash':<13}{chain['row_hash']} ({state_text})")
    file = document.get("file")
    if file is not None:
        if not file["exists"]:
            say(f"  {'file':<13}{plain(file['path'])}: no such file")
        else:
            same = "match" if file["matches_record"] else "DIFFER FROM"
            say(f"  {'file':<13}{plain(file['path'])}: bytes {same} the record")


def _decision_text(decision: dict[str, Any]) -> str:
    what = decision.get("detail") or decision.get("span") or decision.get("work_title") or ""
    threshold = decision.get("threshold")
    limit = f" (threshold {threshold:.3f})" if threshold is not None else ""
    return (
        f"{plain(decision['action'])} {plain(decision['policy'])}/{plain(decision['rule'])} "
        f"at {decision['stage']}, score {decision['score']:.3f}{limit}"
        + (f": {plain(what)}" if what else "")
    )
