"""`provenant generate`: one request from options, or a resumable `--batch FILE.jsonl`."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_BLOCKED, BadInputError

if TYPE_CHECKING:
    from provenance.pipeline.batch import BatchSummary, RequestOutcome
    from provenance.verdict import Verdict


def register(app: typer.Typer) -> None:
    """Add `generate` to the app."""
    app.command("generate")(generate)


def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Prompt text.")] = None,
    generator: Annotated[
        str | None, typer.Option("--generator", "-g", help="Generator plugin name.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model directory, file or preset.")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--num-images", help="Images to generate.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed of the first image.")] = None,
    negative_prompt: Annotated[str | None, typer.Option("--negative-prompt")] = None,
    style: Annotated[Path | None, typer.Option(help="Style image (an inputTo ingredient).")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Init / content image (the parentOf ingredient).")
    ] = None,
    mask: Annotated[
        Path | None,
        typer.Option(
            help="Inpainting mask for --init: white is repainted (an inputTo ingredient)."
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Generator parameter KEY=VALUE (repeatable), e.g. steps=25."),
    ] = None,
    request_id: Annotated[str | None, typer.Option("--id", help="Request id.")] = None,
    requester: Annotated[str | None, typer.Option(help="Who asks (recorded).")] = None,
    project: Annotated[str | None, typer.Option(help="Project id (recorded).")] = None,
    license_id: Annotated[
        str | None, typer.Option("--license", help="Licence/agreement id the request holds.")
    ] = None,
    use: Annotated[
        str | None, typer.Option(help="Declared use: commercial, internal or research.")
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="JSONL file, one request (with an id) a line.")
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Where a --batch runs: local, or ray (a cluster).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: ray://HOST:10001 or auto (default: local)."),
    ] = None,
    gpus_per_worker: Annotated[
        float, typer.Option("--gpus-per-worker", help="GPUs per Ray worker (0: CPU slots).")
    ] = 0.0,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Ray workers to start (default: one per GPU/CPU slot)."),
    ] = None,
    record_batch: Annotated[
        int | None,
        typer.Option(
            "--record-batch",
            help="Ray: images recorded per ledger transaction (default 128; 1: one by one).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Screen, generate, screen, sign and record images (exit 3 when a policy refuses)."""
    from provenance.pipeline.requests import read_batch, request_from_fields
    from provenance.pipeline.studio import Studio

    if executor not in ("local", "ray"):
        raise BadInputError(f"--executor {executor!r}: expected local or ray")
    if executor == "ray" and batch is None:
        raise BadInputError("--executor ray runs a --batch FILE")
    farm_only = (address, workers, record_batch)
    if executor == "local" and (any(v is not None for v in farm_only) or gpus_per_worker):
        raise BadInputError(
            "--address, --workers, --gpus-per-worker and --record-batch need --executor ray"
        )
    if gpus_per_worker < 0:
        raise BadInputError("--gpus-per-worker must not be negative")
    if record_batch is not None and record_batch < 1:
        raise BadInputError("--record-batch must be at least 1")
    settings = state(ctx).settings
    default_generator = settings.generators.default
    with Studio(settings) as studio:
        if batch is not None:
            if prompt is not None or init is not None or style is not None or mask is not None:
                raise BadInputError("--batch takes its requests from the file; drop --prompt etc.")
            lines = read_batch(batch, generator or default_generator)
            farm = None
            if executor == "ray":
                from provenance.pipeline.farm import FarmOptions

                farm = FarmOptions(address, gpus_per_worker, workers)
                if record_batch is not None:
                    farm = dataclasses.replace(farm, record_batch=record_batch)
            summary = _run_batch(studio, lines, out, as_json, farm)
            raise typer.Exit(summary.exit_code)
        fields = {
            "id": request_id,
            "prompt": prompt or "",
            "generator": generator,
            "model": model,
            "n": n,
            "seed": seed,
            "negative_prompt": negative_prompt,
            "init": str(init) if init else None,
            "style": str(style) if style else None,
            "mask": str(mask) if mask else None,
            "params": parse_params(param or []),
            "requester": requester,
            "project": project,
            "license": license_id,
            "use": use,
        }
        request = request_from_fields(
            {k: v for k, v in fields.items() if v is not None}, Path.cwd(), default_generator
        )
        outcome = _run_single(studio, request, out)
    print_outcome(outcome, as_json)
    # Not failed (that exited above): either a result, or refused before generating.
    raise typer.Exit(outcome.result.exit_code if outcome.result else EXIT_BLOCKED)


def _run_single(studio: Any, request: Any, out: Path) -> RequestOutcome:
    from provenance.pipeline.batch import run_request

    outcome = run_request(studio, request, out)
    if outcome.outcome == "failed":
        # A single request's error is the command's error: one line on stderr, exit 1.
        _output.error(outcome.error or "failed")
        raise typer.Exit(1)
    return outcome


def _run_batch(studio: Any, lines: Any, out: Path, as_json: bool, farm: Any = None) -> BatchSummary:
    """Run the batch locally, or on Ray when `farm` (its `FarmOptions`) is given."""
    import time

    parsed = list(lines)
    counts = {"done": 0, "failed": 0, "refused": 0}
    images = 0
    started = time.perf_counter()
    with _output.progress("generating", total=len(parsed), enabled=not as_json) as bar:

        def report(outcome: RequestOutcome) -> None:
            nonlocal images
            print_outcome(outcome, as_json)
            kind = {"blocked": "refused", "partial": "refused", "failed": "failed"}
            counts[kind.get(outcome.outcome, "done")] += 1
            images += len(outcome.result.images) if outcome.result else 0
            rate = images / max(time.perf_counter() - started, 1e-9)
            tally = ", ".join(f"{v} {k}" for k, v in counts.items())
            bar.advance(1, description=f"generating ({tally}; {rate:.1f} img/s)")

        if farm is None:
            from provenance.pipeline.batch import run_batch

            summary = run_batch(studio, parsed, out, on_outcome=report)
        else:
            from provenance.pipeline.farm import run_farm_batch

            summary = run_farm_batch(studio, parsed, out, farm, on_outcome=report)
    if as_json:
        _output.emit_json(summary.as_dict())
    else:
        tallies = ", ".join(f"{v} {k}" for k, v in summary.counts.items() if v)
        total = summary.images
        _output.info(f"{len(parsed)} requests: {tallies or 'none'}; {total} images in {out}")
    return summary


def print_outcome(outcome: RequestOutcome, as_json: bool) -> None:
    if as_json:
        _output.emit_json(outcome.as_dict())
        return
    rid = outcome.request_id or f"line {outcome.line_no}"
    if outcome.outcome == "failed":
        _output.error(f"{rid}: {outcome.error}")
    elif outcome.outcome == "blocked":
        _output.info(f"[red]blocked[/] {rid}: {_refusing_reasons(outcome.verdict)}")
    elif outcome.result is not None:
        result = outcome.result
        if result.status == "skipped":
            _output.info(f"[dim]skipped[/] {rid}: {result.note}")
        for image in result.images:
            where = f"{rid} #{image.index}"
            _output.info(f"[green]signed[/] {where} -> {image.path} ({image.asset_id})")
        for refusal in result.refusals:
            reasons = _refusing_reasons(refusal.verdict)
            _output.info(f"[red]refused[/] {rid} #{refusal.index}: {reasons}")


def _refusing_reasons(verdict: Verdict | None) -> str:
    """The reasons that refused, as one line."""
    reasons = verdict.reasons if verdict is not None else ()
    return "; ".join(r.summary() for r in reasons if r.action.refuses)


def parse_params(items: list[str]) -> dict[str, Any]:
    """`["steps=25", "scheduler=euler"]` -> {"steps": 25, "scheduler": "euler"} (TOML values)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param {item!r}: expected KEY=VALUE")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        params[key.strip()] = value
    return params
