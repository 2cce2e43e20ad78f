"""The audit report as one self-contained HTML page: inline CSS, inline SVG, no script.

The page is the Jinja2 template `report.html` (with the `/audit` dashboard's shared parts,
`_audit.html`), autoescaped: every string that comes from the ledger (prompts are user
text, and so are requesters, projects, generator names, work titles, policy details)
reaches the page as text.  The page also carries a Content-Security-Policy that forbids
scripts and any fetch but `data:` images, so a mistake in escaping could still not run code.

Counts carry `data-*` attributes (`data-metric`, `data-generator`, `data-work`...) so that
tools and tests read the numbers without scraping text.  `report_view` computes what both
the report and the dashboard show, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from provenance.audit.charts import Series, TimeAxis, legend, stacked_bars, time_axis
from provenance.audit.query import VERDICTS, verdict_of

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
NO_GENERATOR = "(none)"


def report_css() -> str:
    """The report's stylesheet (inlined into the page; served as a file by the dashboard)."""
    return resources.files("provenance.audit").joinpath("report.css").read_text("utf-8")


def render_html(data: ReportData, thumbnails: Sequence[Thumbnail]) -> str:
    """The whole page.  `thumbnails` match `data.assets`, in order."""
    from provenance.serve.templating import template_environment

    filters = data.filters.as_dict()
    page = template_environment().get_template("report.html")
    return page.render(
        css=Markup(report_css()),
        generated=data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ledger=data.ledger,
        filters=", ".join(f"{k}={v}" for k, v in filters.items()),
        chain=data.chain,
        view=report_view(data, thumbnails),
    )


def chain_badge(chain: ChainReport) -> str:
    """Intact (entry count and head hash) or broken (the first bad row and why)."""
    from provenance.serve.templating import template_environment

    parts = template_environment().get_template("_audit.html").module
    return str(parts.chain_badge(chain)).strip()  # type: ignore[attr-defined]


def report_view(data: ReportData, thumbnails: Sequence[Thumbnail]) -> dict[str, Any]:
    """What the shared template parts show: cards, tables, charts and rows."""
    totals = data.totals()
    by_verdict = data.by_verdict()
    order = [*VERDICTS, *sorted(set(by_verdict) - set(VERDICTS))]
    return {
        "cards": [
            ("Entries", "entries", totals["entries"]),
            ("Signed outputs", "assets", totals["asset"]),
            ("Refusals", "refusals", totals["refusal"]),
        ],
        "verdict_rows": [
            (v, c["asset"], c["refusal"]) for v in order if (c := by_verdict.get(v)) is not None
        ],
        "charts": _charts(data),
        "generators": [
            (name or "", name or NO_GENERATOR, assets, refusals)
            for name, assets, refusals in data.by_generator()
        ],
        "reasons": data.reasons,
        "refusals": data.refusals,
        "refusal_total": totals["refusal"],
        "works": data.works,
        "assets": [
            {"entry": e, "thumbnail": t, "verdict": verdict_of(e)}
            for e, t in zip(data.assets, thumbnails, strict=True)
        ],
        "asset_total": totals["asset"],
    }


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


def _charts(data: ReportData) -> list[dict[str, Any]]:
    """The two stacked-bar charts; `charts` escapes its own labels, so its SVG is Markup."""
    axis = time_axis(day.day for day in data.days)
    generators = [name or NO_GENERATOR for name, assets, _ in data.by_generator() if assets]
    gen_colours = {
        name: GENERATOR_COLOURS[i % len(GENERATOR_COLOURS)] for i, name in enumerate(generators)
    }
    per_generator = _layers(data, axis, ("asset",), "generator", gen_colours)
    per_verdict = _layers(data, axis, ("asset", "refusal"), "verdict", VERDICT_COLOURS)
    unit = axis.unit
    return [
        {
            "heading": f"Signed outputs per {unit}, by generator",
            "svg": Markup(
                stacked_bars(axis.labels, per_generator, title=f"Signed outputs per {unit}")
            ),
            "legend": Markup(legend(per_generator)),
        },
        {
            "heading": f"All entries per {unit}, by verdict",
            "svg": Markup(
                stacked_bars(axis.labels, per_verdict, title=f"Entries per {unit} by verdict")
            ),
            "legend": Markup(legend(per_verdict)),
        },
    ]
