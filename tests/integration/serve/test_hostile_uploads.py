"""Hostile files from the hardening corpus posted to `/api/verify`: each gets an answer (a
report, or a one-line 4xx error) and the server keeps answering.  The slow run posts every
family's whole share; the fast run an even slice of each family."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # `tests.hardening.*`, as the hardening suite imports them

from tests.hardening.corpus import Recipe, plan  # noqa: E402

if TYPE_CHECKING:
    from conftest import ServedStudio

ANSWERS = {200, 400, 413, 415, 422}
PER_FAMILY = 12


def _slice(recipes: list[Recipe], per_family: int) -> list[Recipe]:
    families: dict[str, list[Recipe]] = defaultdict(list)
    for recipe in recipes:
        families[recipe.family].append(recipe)
    out = []
    for members in families.values():
        stride = max(1, len(members) // per_family)
        out.extend(members[::stride][:per_family])
    return out


def test_hostile_uploads_get_an_answer_each(client: TestClient, served: ServedStudio) -> None:
    seeds = {"signed.png": served.signed.read_bytes(), "plain.png": served.unsigned.read_bytes()}
    recipes = _slice(list(plan(seeds, total=600)), PER_FAMILY)
    assert len({r.family for r in recipes}) >= 5
    seen: Counter[int] = Counter()
    for recipe in recipes:
        data = recipe.make()
        response = client.post("/api/verify", files={"file": ("f.png", data, "image/png")})
        assert response.status_code in ANSWERS, (recipe.family, recipe.name, response.text)
        body = response.json()
        if response.status_code == 200:
            assert body["state"] != "trusted" or data == seeds["signed.png"], recipe.name
        else:
            assert isinstance(body["error"], str) and "\n" not in body["error"], recipe.name
        seen[response.status_code] += 1
    print(f"hostile uploads by status: {dict(sorted(seen.items()))}")
    assert client.get("/").status_code == 200  # still up
    assert seen[200] > 0 and sum(seen.values()) == len(recipes)
