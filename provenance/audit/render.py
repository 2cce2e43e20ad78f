"""The audit report as one self-contained HTML page: inline CSS, inline SVG, no script.

Every string that comes from the ledger (prompts are user text, and so are requesters,
projects, generator names, work titles, policy details) goes through `esc` before it
reaches the page; the page also carries a Content-Security-Policy that forbids scripts and
any fetch but `data:` images, so a mistake in escaping could still not run code.

Counts carry `data-*` attributes (`data-metric`, `data-generator`, `data-work`...) so that
tools and tests read the numbers without scraping text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

from provenance import __version__
from provenance.audit.charts import Series, TimeAxis, legend, stacked_bars, time_axis
from provenance.audit.query import VERDICTS, verdict_of
from provenance.ledger.records import AssetRecord, DecisionRecord, LedgerEntry, RefusalRecord

if TYPE_CHECKING:
    from provenance.audit.report import ReportData
    from provenance.audit.thumbnails import Thumbnail
    from provenance.ledger.chain import ChainReport

GENERATOR_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#e15759",
)
VERDICT_COLOURS = {
    "allow": "#1a7f37",
    "warn": "#d4a72c",
    "needs_license": "#8250df",
    "block": "#cf222e",
}
OTHER_COLOUR = "#8c959f"
PROMPT_CHARS = 300
NO_GENERATOR = "(none)"
_NONE = '<span class="muted">none</span>'


def esc(value: Any) -> str:
    """Text safe inside HTML content and double-quoted attributes (None becomes "")."""
    return "" if value is None else escape(str(value), quote=True)


def _clip(text: str | None, limit: int = PROMPT_CHARS) -> str:
    if text is None:
        return '<span class="muted">(not kept: salted hash only)</span>'
    shown = text if len(text) <= limit else text[:limit] + "…"
    return esc(shown)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(
        f'<th class="num">{esc(h[1:])}</th>' if h.startswith("#") else f"<th>{esc(h)}</th>"
        for h in headers
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(metric: str, value: int | float, shown: str | None = None) -> str:
    text = shown if shown is not None else f"{value:,}"
    return f'<td class="num" data-metric="{esc(metric)}" data-value="{value}">{esc(text)}</td>'


def _verdict(verdict: str) -> str:
    return f'<span class="verdict {esc(verdict)}">{esc(verdict)}</span>'


def render_html(data: ReportData, thumbnails: Sequence[Thumbnail]) -> str:
    """The whole page.  `thumbnails` match `data.assets`, in order."""
    page = resources.files("provenance.audit").joinpath("report.html").read_text("utf-8")
    css = resources.files("provenance.audit").joinpath("report.css").read_text("utf-8")
    filters = data.filters.as_dict()
    described = ", ".join(f"{k}={v}" for k, v in filters.items())
    return Template(page).substitute(
        version=esc(__version__),
        css=css,
        generated=esc(data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ledger=esc(data.ledger),
        filters=f"Filters: {esc(described)}." if filters else "All entries.",
        chain=chain_badge(data.chain),
        summary=_summary(data),
        charts=_charts(data),
        generators=_generators(data),
        refusals=_refusals(data),
        works=_works(data),
        assets=_assets(data, thumbnails),
    )


def chain_badge(chain: ChainReport) -> str:
    """Intact (entry count and head hash) or broken (the first bad row and why)."""
    if chain.ok:
        attrs = f'data-chain="intact" data-count="{chain.count}" data-head="{esc(chain.head_hash)}"'
        return (
            f'<div id="chain" class="badge intact" {attrs}>Chain intact: {chain.count:,} '
            f'entries<span class="detail">head {esc(chain.head_hash)}</span></div>'
        )
    bad = chain.first_bad
    assert bad is not None
    attrs = (
        f'data-chain="broken" data-count="{chain.count}" data-bad-seq="{esc(bad.seq)}" '
        f'data-bad-id="{esc(bad.id)}" data-bad-reason="{esc(bad.reason)}"'
    )
    where = f"seq {bad.seq} " if bad.seq is not None else ""
    return (
        f'<div id="chain" class="badge broken" {attrs}>Chain broken at {esc(where)}'
        f"({esc(bad.kind)} {esc(bad.id)}): {esc(bad.reason)}"
        f'<span class="detail">{esc(bad.detail)}</span></div>'
    )


def _summary(data: ReportData) -> str:
    totals = data.totals()
    cards = "".join(
        f'<div class="card"><dt>{label}</dt><dd data-metric="{key}" data-value="{totals[kind]}">'
        f"{totals[kind]:,}</dd></div>"
        for label, key, kind in (
            ("Entries", "entries", "entries"),
            ("Signed outputs", "assets", "asset"),
            ("Refusals", "refusals", "refusal"),
        )
    )
    by_verdict = data.by_verdict()
    order = [*VERDICTS, *sorted(set(by_verdict) - set(VERDICTS))]
    rows = (
        f'<tr data-verdict="{esc(v)}"><td>{_verdict(v)}</td>'
        f"{_num('assets', c['asset'])}{_num('refusals', c['refusal'])}</tr>"
        for v in order
        if (c := by_verdict.get(v)) is not None
    )
    table = _table(("Verdict", "#Signed outputs", "#Refusals"), rows, "No entries.")
    return f'<dl class="cards">{cards}</dl><h3>By verdict</h3>{table}'


def _layers(
    data: ReportData, axis: TimeAxis, kinds: tuple[str, ...], key: str, colours: dict[str, str]
) -> list[Series]:
    """One series per name in `colours` (in that order), then any other name seen, in grey
    (a refusal action outside `VERDICTS`, from a hand-edited row, must not break the page)."""
    index = {label: i for i, label in enumerate(axis.labels)}
    values: dict[str, list[int]] = {name: [0] * len(axis.labels) for name in colours}
    for day in data.days:
        if day.kind in kinds:
            name = getattr(day, key) or NO_GENERATOR
            counts = values.setdefault(name, [0] * len(axis.labels))
            counts[index[axis.bucket_of(day.day)]] += day.count
    return [
        Series(name, colours.get(name, OTHER_COLOUR), counts)
        for name, counts in values.items()
        if any(counts)
    ]


def _charts(data: ReportData) -> str:
    axis = time_axis(day.day for day in data.days)
    generators = [name or NO_GENERATOR for name, assets, _ in data.by_generator() if assets]
    gen_colours = {
        name: GENERATOR_COLOURS[i % len(GENERATOR_COLOURS)] for i, name in enumerate(generators)
    }
    per_generator = _layers(data, axis, ("asset",), "generator", gen_colours)
    per_verdict = _layers(data, axis, ("asset", "refusal"), "verdict", VERDICT_COLOURS)
    unit = axis.unit
    return (
        f"<h3>Signed outputs per {unit}, by generator</h3>"
        f"{stacked_bars(axis.labels, per_generator, title=f'Signed outputs per {unit}')}"
        f"{legend(per_generator)}"
        f"<h3>All entries per {unit}, by verdict</h3>"
        f"{stacked_bars(axis.labels, per_verdict, title=f'Entries per {unit} by verdict')}"
        f"{legend(per_verdict)}"
    )


def _generators(data: ReportData) -> str:
    rows = (
        f'<tr data-generator="{esc(name or "")}"><td>{esc(name or NO_GENERATOR)}</td>'
        f"{_num('assets', assets)}{_num('refusals', refusals)}"
        f"{_num('entries', assets + refusals)}</tr>"
        for name, assets, refusals in data.by_generator()
    )
    return _table(("Generator", "#Signed outputs", "#Refusals", "#Entries"), rows, "No entries.")


def _decision_item(decision: DecisionRecord) -> str:
    d = decision
    threshold = f" (threshold {d.threshold:.3f})" if d.threshold is not None else ""
    what = d.detail or d.span or d.work_title or d.category
    return (
        f"<li>{_verdict(d.action)} <code>{esc(d.policy)}/{esc(d.rule)}</code> "
        f"score {d.score:.3f}{threshold}{': ' + esc(what) if what else ''}</li>"
    )


def _decision_list(decisions: Sequence[DecisionRecord]) -> str:
    if not decisions:
        return '<span class="muted">none recorded</span>'
    return f'<ul class="reasons">{"".join(_decision_item(d) for d in decisions)}</ul>'


def _capped_note(shown: int, total: int, what: str) -> str:
    attrs = f'class="note" data-shown="{shown}" data-total="{total}"'
    if shown >= total:
        return f"<p {attrs}>All {total:,} {what}.</p>"
    return (
        f"<p {attrs}>Showing the newest {shown:,} of {total:,} {what}; "
        "the counts above cover all of them.</p>"
    )


def _refusals(data: ReportData) -> str:
    total = data.totals()["refusal"]
    reasons = (
        f'<tr data-policy="{esc(r.policy)}" data-rule="{esc(r.rule)}">'
        f"<td><code>{esc(r.policy)}</code></td><td><code>{esc(r.rule)}</code></td>"
        f"{_num('count', r.count)}{_num('max_score', r.max_score, f'{r.max_score:.3f}')}</tr>"
        for r in data.reasons
    )
    rows = (_refusal_row(entry) for entry in data.refusals)
    table = _table(
        ("Time", "Refusal", "Stage", "Generator", "Requester", "Prompt", "Reasons"),
        rows,
        "No refusals.",
    )
    return (
        "<h3>Reasons</h3>"
        + _table(("Policy", "Rule", "#Refusals", "#Max score"), reasons, "No refusals.")
        + "<h3>Refused requests</h3>"
        + (_capped_note(len(data.refusals), total, "refusals") if total else "")
        + table
    )


def _refusal_row(entry: LedgerEntry) -> str:
    record = entry.record
    assert isinstance(record, RefusalRecord)
    return (
        f'<tr data-refusal="{esc(entry.id)}"><td>{_time(record.created_at)}</td>'
        f'<td class="id"><code>{esc(entry.id)}</code></td><td>{esc(record.stage)}</td>'
        f"<td>{esc(record.generator or NO_GENERATOR)}</td><td>{esc(record.requester)}</td>"
        f'<td class="prompt">{_clip(record.prompt)}</td>'
        f"<td>{_decision_list(record.decisions)}</td></tr>"
    )


def _works(data: ReportData) -> str:
    rows = (
        f'<tr data-work="{esc(w.work_id)}" data-license="{esc(w.license)}">'
        f"<td><code>{esc(w.work_id)}</code></td><td>{esc(w.title)}</td>"
        f"<td>{esc(w.license or 'unspecified')}</td>{_num('assets', w.assets)}"
        f"{_num('max_similarity', w.max_similarity, f'{w.max_similarity:.3f}')}</tr>"
        for w in data.works
    )
    headers = ("Work", "Title", "Licence", "#Signed outputs", "#Max similarity")
    return _table(headers, rows, "No known works credited.")


def _thumbnail_cell(thumb: Thumbnail, name: str) -> str:
    if thumb.data_uri is not None:
        return f'<img class="thumb" src="{esc(thumb.data_uri)}" alt="{esc(name)}">'
    return f'<div class="thumb placeholder">{esc(thumb.status)}</div>'


def _asset_row(entry: LedgerEntry, thumb: Thumbnail) -> str:
    record = entry.record
    assert isinstance(record, AssetRecord)
    name = record.path.rsplit("/", 1)[-1]
    file_note = (
        ""
        if thumb.status == "ok"
        else f'<br><span class="file-{esc(thumb.status)}" title="{esc(thumb.detail)}">'
        f"file {esc(thumb.status)}</span>"
    )
    works = ", ".join(f"{esc(a.title)} ({esc(a.license or '?')})" for a in record.attributions)
    credits = works or _NONE
    return (
        f'<tr id="asset-{esc(entry.id)}" data-asset="{esc(entry.id)}" '
        f'data-file="{esc(thumb.status)}">'
        f"<td>{_thumbnail_cell(thumb, name)}</td>"
        f'<td>{_time(record.created_at)}<br><code class="id">{esc(entry.id)}</code><br>'
        f'<span class="muted mono" title="{esc(record.path)}">{esc(name)}</span>{file_note}</td>'
        f"<td>{esc(record.generator)}<br>"
        f'<span class="muted">{esc(record.model_name)} · seed {esc(record.seed)}</span>'
        f"{_lineage(record)}</td>"
        f"<td>{_verdict(verdict_of(entry))}</td>"
        f'<td class="prompt">{_clip(record.prompt)}</td>'
        f'<td>{esc(record.requester)}<br><span class="muted">{esc(record.project)}</span></td>'
        f"<td>{credits}</td></tr>"
    )


def _lineage(record: AssetRecord) -> str:
    """Who made this step and what it was made from (links to those steps' rows)."""
    parts = []
    for person in record.contributors or ():
        tool = f" in {person['tool']}" if person.get("tool") else ""
        role = "drawn" if person.get("role") == "author" else "edited"
        parts.append(f"{role} by {esc(person.get('name'))}{esc(tool)}")
    for item in record.ingredients:
        title = esc(item.title or item.sha256[:12])
        link = (
            f'<a href="#asset-{esc(item.source_asset_id)}">{title}</a>'
            if item.source_asset_id
            else title
        )
        state = f", {esc(item.validation_state)}" if item.validation_state else ""
        parts.append(f"from {link} ({esc(item.relationship)}{state})")
    if not parts:
        return ""
    return '<div class="lineage muted">' + "<br>".join(parts) + "</div>"


def _assets(data: ReportData, thumbnails: Sequence[Thumbnail]) -> str:
    total = data.totals()["asset"]
    rows = (_asset_row(e, t) for e, t in zip(data.assets, thumbnails, strict=True))
    headers = ("Image", "Recorded", "Generator", "Verdict", "Prompt", "Requester", "Credits")
    note = _capped_note(len(data.assets), total, "signed outputs") if total else ""
    return note + _table(headers, rows, "No signed outputs.")
