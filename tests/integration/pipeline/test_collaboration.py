"""Sketch, render, retouch, render, retouch: every step trusted, the chain complete twice.

The chain is made by `provenance.demo.collaboration` (a signed sketch, style transfer on the tiny
random-weight network with the previous file as content, scripted retouches signed with
`--parent`).  Then: each file is Trusted for c2pa's own Reader and for `provenant verify`;
each step's `parentOf` ingredient names the previous file's manifest; `audit lineage`
(ledger) and `verify --tree` (credentials alone) both give the 5 steps in order; with a
middle file deleted the ledger names it missing while the credentials still carry it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import c2pa

from provenance.config import Settings
from provenance.credentials.trust import verification_settings
from provenance.demo.collaboration import run_chain
from provenance.errors import EXIT_OK, EXIT_VERIFICATION_FAILED
from provenance.pipeline.studio import Studio

KINDS = ["human sketch", "model render", "human retouch", "model render", "human retouch"]
SUMMARY = "5 steps: 1 human sketch, 2 model renders, 2 human retouches; 2 unsigned inputs"


def _raw_store(path: Path, settings: Settings) -> dict[str, Any]:
    roots = "".join(Path(p).read_text() for p in settings.trust.anchors)
    context = c2pa.Context.from_dict(verification_settings(roots))
    with c2pa.Reader("image/png", io.BytesIO(path.read_bytes()), context=context) as reader:
        return json.loads(reader.json())


def test_a_five_step_collaboration_is_trusted_and_complete(
    studio_home: Path, cli, models, inputs, tmp_path: Path
) -> None:
    settings = Settings.load(home=studio_home, env={})
    with Studio(settings) as studio:
        chain = run_chain(studio, tmp_path / "work", model=str(models.adain), style=inputs["style"])
    assert chain.kinds == KINDS

    labels = []
    for n, path in enumerate(chain.files):
        store = _raw_store(path, settings)
        assert store["validation_state"] == "Trusted", (path, store.get("validation_status"))
        active = store["manifests"][store["active_manifest"]]
        parents = [i for i in active.get("ingredients", []) if i["relationship"] == "parentOf"]
        if n:
            (parent,) = parents
            assert parent["active_manifest"] == labels[-1]
            assert not parent["validation_results"]["activeManifest"].get("failure")
        labels.append(store["active_manifest"])
    verified = cli("verify", *chain.files, "--json")
    assert verified.exit_code == EXIT_OK, verified.output
    assert {json.loads(line)["state"] for line in verified.stdout.splitlines()} == {"trusted"}

    audited = cli("audit", "lineage", chain.files[-1], "--json")
    assert audited.exit_code == EXIT_OK, audited.output
    ledger_view = json.loads(audited.stdout)
    steps = [s for s in ledger_view["steps"] if s["kind"] != "unsigned input"]
    assert [s["kind"] for s in steps] == KINDS
    assert [s["asset_id"] for s in steps] == chain.asset_ids
    assert ledger_view["summary"] == SUMMARY and ledger_view["clean"] is True
    assert steps[2]["actor"] == "Ana Lima (Krita 5.2)"

    tree = cli("verify", "--tree", "--json", chain.files[-1])
    credentials_view = json.loads(tree.stdout)["lineage"]
    steps = [s for s in credentials_view["steps"] if s["kind"] != "unsigned input"]
    assert [s["kind"] for s in steps] == KINDS
    assert [s["manifest_label"] for s in steps] == labels
    assert credentials_view["summary"] == SUMMARY and credentials_view["clean"] is True

    report = cli("audit", "report", "--html", tmp_path / "report.html")
    assert report.exit_code == EXIT_OK, report.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "edited by Ana Lima in Krita 5.2" in html and "drawn by Ana Lima" in html
    for made_from in chain.asset_ids[:-1]:  # each step links to the row it was made from
        assert f'href="#asset-{made_from}"' in html and f'id="asset-{made_from}"' in html

    chain.files[2].unlink()  # the first retouch is lost from disk
    audited = cli("audit", "lineage", chain.asset_ids[-1])
    assert audited.exit_code == EXIT_VERIFICATION_FAILED
    assert f"missing: the file {chain.files[2]} is gone" in audited.stdout
    assert "5 steps" in audited.stdout and "NOT a clean chain" in audited.stdout
    tree = cli("verify", "--tree", "--json", chain.files[-1])
    assert json.loads(tree.stdout)["lineage"]["clean"] is True  # the credentials carry it


def test_inpainting_credits_the_sketch_as_parent_and_the_mask_as_input(
    studio_home: Path, cli, models, tmp_path: Path
) -> None:
    from PIL import Image, ImageDraw

    from provenance.demo.collaboration import draw_sketch

    sketch = draw_sketch(tmp_path / "sketch.png", 64)
    signed = cli("sign", sketch, "--editor", "Ana Lima", "--out", tmp_path / "s", "--json")
    assert signed.exit_code == EXIT_OK, signed.output
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 40, 40), fill=255)
    mask.save(tmp_path / "mask.png")
    made = cli("generate", "-g", "diffusion", "-m", models.diffusion, "-p", "a red door",
               "--init", tmp_path / "s" / "sketch.png", "--mask", tmp_path / "mask.png",
               "--param", "strength=0.5", "--param", "steps=2", "--seed", "3",
               "--out", tmp_path / "out", "--json")  # fmt: skip
    assert made.exit_code == EXIT_OK, made.output
    (image,) = json.loads(made.stdout)["images"]
    store = _raw_store(Path(image["path"]), Settings.load(home=studio_home, env={}))
    assert store["validation_state"] == "Trusted"
    active = store["manifests"][store["active_manifest"]]
    parent, masked = active["ingredients"]
    assert (parent["title"], parent["relationship"]) == ("sketch.png", "parentOf")
    assert parent["active_manifest"] in store["manifests"]
    assert (masked["title"], masked["relationship"]) == ("mask.png", "inputTo")
    opened, edited = next(
        a["data"]["actions"] for a in active["assertions"] if a["label"] == "c2pa.actions.v2"
    )
    assert opened["action"] == "c2pa.opened" and edited["action"] == "c2pa.edited"
    # The mask is referenced by the edit (c2pa writes the ids as hashed ingredient links).
    (ref,) = edited["parameters"]["ingredients"]
    assert ref["url"].endswith(masked["label"])
    generation = next(a["data"] for a in active["assertions"]
                      if a["label"] == "org.provenant.generation")  # fmt: skip
    assert generation["params"]["mode"] == "inpaint"
    assert generation["params"]["pipeline"] == "StableDiffusionInpaintPipeline"

    audited = cli("audit", "lineage", image["path"], "--json")
    lineage = json.loads(audited.stdout)
    assert [s["kind"] for s in lineage["steps"]] == [
        "human sketch",
        "unsigned input",
        "model render",
    ]
    assert lineage["summary"] == "2 steps: 1 human sketch, 1 model render; 1 unsigned input"
