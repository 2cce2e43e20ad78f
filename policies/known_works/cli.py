"""`provenant works add|import|list|remove|reindex`: the studio's known-works registry.

The plugin contributes this group through the `provenant.commands` entry point (`works`),
the way any third-party plugin adds a command; the CLI never imports it by name.

Works are stored in the ledger database; the search index beside it (`<home>/index`) is
brought up to date after every change (forward by the registry's change log, or rebuilt
when it cannot be; or later, with `--no-index`), so the next screen does not pay for it.
`works reindex` always rebuilds from every row.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.policies.clip import ClipEncoder
    from provenance.policies.known_works.index import KnownWorksIndex
    from provenance.policies.known_works.registry import KnownWorksRegistry
    from provenance.policies.text_embed import TextEncoder

NoIndexOption = Annotated[
    bool, typer.Option("--no-index", help="Leave the search index for `works reindex`.")
]

works_app = typer.Typer(
    name="works", no_args_is_help=True, help="Register protected works that policies screen for."
)


class Kind(StrEnum):
    """What a work is."""

    character = "character"
    artwork = "artwork"
    artist_style = "artist_style"


def _license(value: str) -> str:
    from provenance.policies.known_works.specs import check_license

    try:
        return check_license(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _open_registry(settings: Settings) -> KnownWorksRegistry:
    from provenance.ledger import migrate
    from provenance.policies.known_works.registry import KnownWorksRegistry

    migrate.require_current(settings.database_url)
    return KnownWorksRegistry.from_settings(settings)


def _clip(settings: Settings) -> ClipEncoder | None:
    """The CLIP encoder, or None with a warning that embeddings wait for `works reindex`."""
    from provenance.policies.clip import load_optional

    encoder, why = load_optional(settings)
    if encoder is None and settings.clip.checkpoint is not None:
        _output.warn(f"CLIP is off ({why}); works are stored without embeddings")
    return encoder


def _text_encoder(settings: Settings) -> TextEncoder | None:
    """The sentence encoder for names and descriptions, or None with a warning."""
    from provenance.policies.known_works.reindex import text_encoder_for

    encoder, why = text_encoder_for(settings)
    if encoder is None and why is not None:
        _output.warn(f"the semantic layer is off ({why}); works are stored without it")
    return encoder


def _reindex(
    settings: Settings,
    registry: KnownWorksRegistry,
    encoder: ClipEncoder | None,
    show_progress: bool = True,
    text_encoder: TextEncoder | None = None,
    full: bool = False,
) -> KnownWorksIndex:
    """The index after a change: brought forward by the change log, or rebuilt (`full`)."""
    from provenance.policies.known_works import reindex

    with _output.progress("indexing known works", None, enabled=show_progress) as bar:
        return reindex.rebuild_for_settings(
            settings, registry, encoder, bar.advance, text_encoder, full
        )


@works_app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="The work's title or name.")],
    kind: Annotated[Kind, typer.Option("--kind", help="What the work is.")],
    license: Annotated[
        str,
        typer.Option(
            "--license", callback=_license, help="all-rights-reserved, or licensed:<agreement id>."
        ),
    ],
    images: Annotated[
        list[Path] | None, typer.Argument(help="Reference images (none for names-only works).")
    ] = None,
    creator: Annotated[str, typer.Option("--creator", help="Author, studio or artist.")] = "",
    aliases: Annotated[
        str,
        typer.Option("--aliases", help="Other names in any language, comma-separated: A,B."),
    ] = "",
    description: Annotated[
        str,
        typer.Option(
            "--description",
            help="What the work looks like: visual traits, setting, signature elements.",
        ),
    ] = "",
    work_id: Annotated[
        str | None, typer.Option("--id", help="The studio's own id (default: generated).")
    ] = None,
    no_index: NoIndexOption = False,
    json: JsonOption = False,
) -> None:
    """Register one work, with its reference images if it has any."""
    from provenance.policies.known_works.prepare import prepare_work
    from provenance.policies.known_works.specs import parse_spec
    from provenance.types import new_id

    settings = state(ctx).settings
    spec = parse_spec(
        {
            "id": work_id or new_id("work"),
            "title": title,
            "creator": creator,
            "kind": kind.value,
            "aliases": [a for a in aliases.split(",") if a.strip()],
            "license": license,
            "images": list(images or []),
            "description": description,
        },
        "works add",
    )
    registry = _open_registry(settings)
    encoder = _clip(settings)
    text_encoder = _text_encoder(settings)
    prepared = prepare_work(spec, encoder, text_encoder=text_encoder)
    registry.add([prepared])
    if not no_index:
        _reindex(settings, registry, encoder, not json, text_encoder)
    result = {**spec.model_dump(mode="json"), "images": [i.sha256 for i in prepared.images]}
    if json:
        _output.emit_json(result)
    else:
        count = len(prepared.images)
        _output.info(
            f'added {spec.id} "{spec.title}" ({spec.kind}, {spec.license}, {count} image(s))'
        )


@works_app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL or CSV file, one work per line.")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good lines and list the bad ones.")
    ] = False,
    no_index: NoIndexOption = False,
    json: JsonOption = False,
) -> None:
    """Register many works; without --skip-bad one bad line means nothing is imported."""
    from provenance.policies.known_works.importer import count_lines, import_works

    settings = state(ctx).settings
    registry = _open_registry(settings)
    encoder = _clip(settings)
    text_encoder = _text_encoder(settings)
    total = count_lines(file)

    def report_line(error: object) -> None:
        _output.warn(f"{file}: {error}")

    with _output.progress(f"importing {file.name}", total, enabled=not json) as bar:
        report = import_works(
            file, registry, encoder, skip_bad, report_line, bar.advance, text_encoder
        )
    if report.imported and not no_index:
        _reindex(settings, registry, encoder, not json, text_encoder)
    if json:
        _output.emit_json(report.as_dict())
        return
    images = sum(len(w.images) for w in report.imported)
    skipped = f", skipped {len(report.errors)} bad line(s)" if report.errors else ""
    _output.info(f"imported {len(report.imported)} work(s) with {images} image(s){skipped}")


@works_app.command("list")
def list_(ctx: typer.Context, json: JsonOption = False) -> None:
    """Show every registered work."""
    registry = _open_registry(state(ctx).settings)
    works = registry.list_works()
    if json:
        _output.emit_json_lines(w.as_dict() for w in works)
        return
    if not works:
        _output.info("no known works registered (add some with `provenant works add`)")
        return
    from rich.table import Table

    table = Table()
    # The description column only when some work has one: on an 80-column terminal it would
    # otherwise squeeze every name into broken-up fragments.
    described = any(w.description for w in works)
    columns = ["id", "title", "creator", "kind", "license", "images", "aliases"]
    for column in [*columns, "description"] if described else columns:
        table.add_column(column, overflow="fold")  # wrap long ids and licences, never cut them
    for w in works:
        cells = [w.id, w.title, w.creator, w.kind, w.license, str(w.images), ", ".join(w.aliases)]
        if described:
            cells.append(w.description[:80] + ("…" if len(w.description) > 80 else ""))
        table.add_row(*cells)
    _output.stdout.print(table)


@works_app.command("remove")
def remove(
    ctx: typer.Context,
    work_id: Annotated[str, typer.Argument(metavar="ID", help="The work's id.")],
    no_index: NoIndexOption = False,
    json: JsonOption = False,
) -> None:
    """Delete a work and its reference images from the registry."""
    settings = state(ctx).settings
    registry = _open_registry(settings)
    removed = registry.remove(work_id)
    if not no_index:
        _reindex(settings, registry, _clip(settings), not json, _text_encoder(settings))
    if json:
        _output.emit_json({"removed": removed.as_dict()})
    else:
        _output.info(f'removed {removed.id} "{removed.title}" ({removed.images} image(s))')


@works_app.command("reindex")
def reindex_(ctx: typer.Context, json: JsonOption = False) -> None:
    """Embed and hash what is missing or outdated, then rebuild the search index."""
    from provenance.policies.known_works import reindex

    settings = state(ctx).settings
    registry = _open_registry(settings)
    encoder = _clip(settings)
    text_encoder = _text_encoder(settings)
    started = time.perf_counter()
    to_embed, to_rehash = reindex.plan(registry, encoder)
    work = len(to_embed if encoder else ()) + len(to_rehash)
    with _output.progress("embedding and hashing", work, enabled=not json and work > 0) as bar:
        refreshed = reindex.refresh_derived(registry, encoder, to_embed, to_rehash, bar.advance)
    with _output.progress("describing images", None, enabled=not json) as bar:
        described = reindex.refresh_features(registry, bar.advance)
    refreshed = replace(
        refreshed,
        images_described=described,
        works_described=reindex.refresh_semantic(registry, text_encoder),
    )
    index = _reindex(settings, registry, encoder, not json, text_encoder, full=True)
    seconds = round(time.perf_counter() - started, 3)
    stamp = index.stamp
    if json:
        _output.emit_json(
            {"index": asdict(stamp), "refreshed": refreshed.as_dict(), "seconds": seconds}
        )
        return
    clip = stamp.clip_model or "off"
    _output.info(
        f"indexed {stamp.works} work(s), {stamp.images} image(s), {stamp.hashes} hash variant(s) "
        f"at registry revision {stamp.revision} (CLIP: {clip}) in {seconds}s"
    )
    if stamp.unembedded_images:
        _output.warn(f"{stamp.unembedded_images} image(s) have no CLIP embedding")
