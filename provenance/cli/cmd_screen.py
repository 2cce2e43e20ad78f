"""`provenant screen`: judge prompts or images with the enabled policies, generating nothing.

    provenant screen --prompt "a lighthouse at dusk"
    provenant screen --prompt-file prompts.jsonl --json      # one verdict per line, in order
    provenant screen --image a.png b.png --use commercial
    provenant screen --prompt "a face" --generator gan --use commercial   # licence check too

Exit codes: 0 everything allowed (warnings included), 3 something refused, 1 an input could
not be screened (each bad line or file is reported on its own line; the rest are screened).
Empty prompts, prompts over `MAX_PROMPT_CHARS` and lines that are not UTF-8 are such inputs.

Fail-closed like `generate`: when a configured policy layer cannot run here (no text encoder
for `prompt_safety.semantic`, no Open-NSFW model for `output_safety.nsfw`) and
`[policies] degraded` does not name it, `screen` refuses with one line before judging
anything; a named bypass is warned about and every verdict lists it under `disabled`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK, BadInputError

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.pipeline.policyset import PolicySet
    from provenance.types import GenerationRequest, ModelInfo
    from provenance.verdict import Verdict

#: Largest prompt screened.  No generator takes more than a few hundred tokens (CLIP-based
#: ones read 77), so a prompt of tens of thousands of characters is a mistake or an attack
#: on the screen itself; it is refused as input, with its line, rather than judged.
MAX_PROMPT_CHARS = 20_000
MAX_PROMPT_FILE_BYTES = 64 * 1024 * 1024


class UseChoice(enum.StrEnum):
    """Declared uses a request can have (checked against model licences)."""

    commercial = "commercial"
    internal = "internal"
    research = "research"


@dataclass
class Item:
    """One thing to screen, or the reason it cannot be."""

    kind: str  # "prompt" or "image"
    source: str  # "--prompt", "FILE:LINE" or an image path
    prompt: str | None = None
    path: Path | None = None
    line: int | None = None
    use: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Tally:
    """What the run found, for the exit code."""

    refused: int = 0
    errors: int = 0
    disabled_layers: set[str] = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        """1 if anything could not be screened, else 3 if anything was refused, else 0."""
        if self.errors:
            return EXIT_ERROR
        return EXIT_BLOCKED if self.refused else EXIT_OK


def register(app: typer.Typer) -> None:
    """Add `screen` to the root app."""
    app.command("screen")(screen)


def screen(
    ctx: typer.Context,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Prompt to screen.")] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(
            "--prompt-file",
            help="One prompt per line, or JSON lines with a `prompt` field (and optional "
            "`id`, `use`); `-` reads stdin.",
        ),
    ] = None,
    image: Annotated[
        list[Path] | None, typer.Option("--image", help="Image(s) to screen: --image A.png B.png")
    ] = None,
    more_images: Annotated[
        list[Path] | None, typer.Argument(help="More images after --image.", show_default=False)
    ] = None,
    use: Annotated[
        UseChoice | None,
        typer.Option("--use", help="Declared use (default: [policies] default_use)."),
    ] = None,
    generator: Annotated[
        str | None, typer.Option("--generator", help="Generator whose model card to check.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model of that generator.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Screen prompts and images with the enabled policies; nothing is generated or signed."""
    images = [*(image or []), *(more_images or [])]
    if more_images and not image:
        raise typer.BadParameter("extra arguments are image paths and need --image", ctx=ctx)
    if prompt is None and prompt_file is None and not images:
        raise typer.BadParameter("give --prompt, --prompt-file or --image", ctx=ctx)
    if model and not generator:
        raise typer.BadParameter("--model needs --generator", ctx=ctx)

    from provenance.ledger import Ledger
    from provenance.pipeline.policyset import PolicySet

    settings = state(ctx).settings
    # Screening only reads (the known-works registry lives in the ledger database): opened
    # read-only, so a missing ledger is reported and never created.
    with Ledger.from_settings(settings, read_only=True) as ledger:
        policies = PolicySet.from_settings(settings, ledger)
        _require_ledger_for(policies, settings)  # "no ledger" is the first thing to say
        policies.check_layers(settings.policies.degraded)  # refuses, one line, if one can't run
        card = _model_card(settings, generator, model) if generator else None
        items = list(_collect(prompt, prompt_file, images))
        tally = Tally()
        with _output.progress("screening", total=len(items), enabled=len(items) > 20) as bar:
            for item in items:
                _report(item, _judge(item, policies, generator, model, use, card), tally, json_out)
                bar.advance()
    raise typer.Exit(tally.exit_code)


def _require_ledger_for(policies: PolicySet, settings: Settings) -> None:
    """The known-works registry lives in the ledger: without one, say so before anything."""
    if "known_works" not in policies.names:
        return
    from provenance.errors import LedgerMissingError
    from provenance.ledger.db import missing_database_message, sqlite_file

    path = sqlite_file(settings.database_url)
    if path is not None and not path.absolute().is_file():
        raise LedgerMissingError(missing_database_message(path.absolute()))


# --- inputs ----------------------------------------------------------------------------------


def _collect(prompt: str | None, prompt_file: Path | None, images: list[Path]) -> Iterator[Item]:
    if prompt is not None:
        yield _checked(Item(kind="prompt", source="--prompt", prompt=prompt))
    if prompt_file is not None:
        yield from _read_prompt_file(prompt_file)
    for path in images:
        yield Item(kind="image", source=str(path), path=path)


def _checked(item: Item) -> Item:
    """Mark prompts no generator could take: too long, or not text (undecodable bytes)."""
    if item.prompt is None:
        return item
    if not item.prompt.strip():
        item.error = f"{item.source}: prompt is empty; give the text to screen"
    elif len(item.prompt) > MAX_PROMPT_CHARS:
        item.error = (
            f"{item.source}: prompt is {len(item.prompt):,} characters, "
            f"over the {MAX_PROMPT_CHARS:,}-character limit"
        )
    elif not item.prompt.isascii():
        try:
            item.prompt.encode("utf-8")
        except UnicodeEncodeError:  # bytes the shell passed through as lone surrogates
            item.error = f"{item.source}: prompt is not valid UTF-8"
    return item


def _read_prompt_file(path: Path) -> Iterator[Item]:
    """Prompts from a text or JSONL file; each unusable line becomes an error item."""
    data = _read_bytes(path)
    name = "<stdin>" if str(path) == "-" else str(path)
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
        source = f"{name}:{number}"
        try:
            line = raw.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
            error = f"{source}: invalid UTF-8 on line {number} ({where}); save the file as UTF-8"
            yield Item("prompt", source, line=number, error=error)
            continue
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            yield _checked(_json_item(line, source, number))
        else:
            yield _checked(Item("prompt", source, prompt=line, line=number))


def _json_item(line: str, source: str, number: int) -> Item:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return Item("prompt", source, line=number, error=f"{source}: invalid JSON ({exc.msg})")
    text = record.get("prompt") if isinstance(record, dict) else None
    if not isinstance(text, str):
        return Item("prompt", source, line=number, error=f"{source}: no string `prompt` field")
    use = record.get("use")
    extra = {"id": record["id"]} if "id" in record else {}
    return Item("prompt", source, prompt=text, line=number, use=use, extra=extra)


def _read_bytes(path: Path) -> bytes:
    """The whole prompt file (or stdin for `-`), refusing more than the size cap."""
    if str(path) != "-":
        from provenance.imageio import read_file

        return read_file(path, limit=MAX_PROMPT_FILE_BYTES)
    import sys

    data = sys.stdin.buffer.read(MAX_PROMPT_FILE_BYTES + 1)
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise BadInputError(f"<stdin>: over the {MAX_PROMPT_FILE_BYTES}-byte prompt file limit")
    return data


# --- judging ---------------------------------------------------------------------------------


def _model_card(settings: Settings, generator: str, model: str | None) -> ModelInfo:
    """The model card a generator reports, so `model_license` can check the declared use."""
    from provenance.plugins import get_generator

    cls = get_generator(generator)
    instance = cls(model, settings.generators.options_for(generator), settings)
    card: ModelInfo = instance.model_info()
    return card


def _judge(
    item: Item,
    policies: PolicySet,
    generator: str | None,
    model: str | None,
    use: UseChoice | None,
    card: ModelInfo | None,
) -> Verdict | str:
    """The combined verdict on one item, or a one-line reason it could not be judged."""
    if item.error is not None:
        return item.error
    request = _request(item, generator, model, item.use or (use.value if use else None), card)
    try:
        if item.kind == "prompt":
            return policies.screen_prompt(request)
        from provenance.imageio import open_image
        from provenance.pipeline.policyset import as_screenable

        pixels = open_image(item.path or Path(item.source)).convert("RGB")
        return policies.screen_image(as_screenable(pixels), request)
    except BadInputError as exc:  # one bad input; the rest of the batch is still screened
        return exc.diagnostics()


def _request(
    item: Item, generator: str | None, model: str | None, use: str | None, card: ModelInfo | None
) -> GenerationRequest:
    from provenance.types import GenerationRequest

    return GenerationRequest(
        prompt=item.prompt or "",
        generator=generator or "none",
        model=model,
        use=use,
        model_card=card,
    )


# --- output ----------------------------------------------------------------------------------


def _report(item: Item, outcome: Verdict | str, tally: Tally, json_out: bool) -> None:
    record: dict[str, Any] = {"input": item.kind, "source": item.source}
    if item.line is not None:
        record["line"] = item.line
    record.update(item.extra)
    if isinstance(outcome, str):
        tally.errors += 1
        record["error"] = outcome
        if json_out:
            _output.emit_json(record)
        _output.error(outcome)
        return
    tally.refused += outcome.refuses
    for layer in sorted(set(outcome.disabled) - tally.disabled_layers):
        tally.disabled_layers.add(layer)  # said once per run, carried in every verdict
        _output.warn(f"screened without {layer}")
    if json_out:
        _output.emit_json({**record, "refused": outcome.refuses, **outcome.as_dict()})
    else:
        _print_verdict(item, outcome)


def _print_verdict(item: Item, verdict: Verdict) -> None:
    colour = {"allow": "green", "warn": "yellow"}.get(verdict.action.value, "bold red")
    label = f"{item.kind} {item.source}" if item.kind == "image" or item.line else item.kind
    _output.info(f"{_escape(label)}: [{colour}]{verdict.action.value}[/]")
    for reason in verdict.reasons:
        threshold = f" ≥ {reason.threshold:.2f}" if reason.threshold is not None else ""
        where = f" {reason.span!r}" if reason.span else ""
        what = f" ({reason.detail})" if reason.detail else ""
        line = (
            f"  {reason.action.value:5} {reason.policy}/{reason.rule} [{reason.category}] "
            f"{reason.score:.2f}{threshold}:{where}{what}"
        )
        _output.info(_escape(line))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
