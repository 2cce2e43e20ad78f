"""Fixtures for `provenant serve`: one initialised studio with users, signed and tampered
images, and FastAPI TestClients logged in as each role.

The studio is made once per module by `provenant init` (it is only read by most tests);
tests that generate write into it through the job runner, which records like the CLI.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.errors import EXIT_OK
from provenance.serve.passwords import hash_password, new_token

PASSWORD = "correct horse battery"
#: name -> role; every user has PASSWORD.
USERS = {"alice": "artist", "bob": "artist", "lena": "lead", "audrey": "auditor"}
_runner = CliRunner()


@dataclass(frozen=True)
class ServedStudio:
    """An initialised data dir with `[serve]` users, and files to upload."""

    home: Path
    signed: Path  # signed by `provenant sign`, requested by alice
    signed_by_bob: Path
    tampered: Path  # `signed` with one byte of its image data changed
    unsigned: Path
    edited: Path  # `signed` signed again by alice: its parentOf ingredient is `signed`
    lead_token: str
    password: str = PASSWORD  # every user's

    def settings(self, **serve: Any) -> Settings:
        """The studio's settings, with `[serve]` options overridden."""
        base = Settings.load(home=self.home, env={})
        if not serve:
            return base
        return base.model_copy(update={"serve": base.serve.model_copy(update=serve)})

    def cli(self, *args: Any) -> Any:
        """Run `provenant --home HOME ...` in-process."""
        return _runner.invoke(app, ["--home", str(self.home), *map(str, args)])


def _noise_png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path)
    return path


def flip_image_data(data: bytes) -> bytes:
    """Change one byte inside the PNG's first IDAT chunk and fix that chunk's CRC, so the
    file still parses but its pixels no longer match the signed hash."""
    at = data.index(b"IDAT")
    length = int.from_bytes(data[at - 4 : at], "big")
    body = bytearray(data[at : at + 4 + length])
    body[4 + length // 2] ^= 0x10
    crc = zlib.crc32(bytes(body)).to_bytes(4, "big")
    return data[:at] + bytes(body) + crc + data[at + 4 + length + 4 :]


def _sign(home: Path, source: Path, out: Path, who: str) -> Path:
    result = _runner.invoke(
        app,
        ["--home", str(home), "sign", str(source), "-g", "external", "-m", "painter",
         "--requester", who, "--project", "poster", "--out", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("{"))
    return Path(json.loads(line)["path"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_models: Any) -> ServedStudio:
    """A studio with users of every role, a configured tiny GAN and signed files."""
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    result = _runner.invoke(app, ["--home", str(home), "init", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    token, digest = new_token()
    hashed = hash_password(PASSWORD)
    lines = [f'\n[generators.gan]\nmodel = "{tiny_models.gan}"\n']
    for name, role in USERS.items():
        extra = f'token_sha256 = "{digest}"\n' if name == "lena" else ""
        lines.append(f'[serve.users.{name}]\nrole = "{role}"\npassword = "{hashed}"\n{extra}')
    config = home / "provenant.toml"
    config.write_text(config.read_text() + "\n".join(lines))
    inputs = root / "inputs"
    inputs.mkdir()
    signed = _sign(home, _noise_png(inputs / "alice.png", 1), root / "signed", "alice")
    by_bob = _sign(home, _noise_png(inputs / "bob.png", 2), root / "signed-bob", "bob")
    edited = _sign(home, signed, root / "edited", "alice")
    tampered = root / "tampered.png"
    tampered.write_bytes(flip_image_data(signed.read_bytes()))
    return ServedStudio(
        home=home,
        signed=signed,
        signed_by_bob=by_bob,
        tampered=tampered,
        unsigned=_noise_png(inputs / "plain.png", 3),
        edited=edited,
        lead_token=token,
    )


@pytest.fixture
def client(served: ServedStudio) -> Iterator[TestClient]:
    """An anonymous client of the studio's app (redirects not followed)."""
    from provenance.serve.app import create_app

    with TestClient(create_app(served.settings()), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def login() -> Callable[[TestClient, str], TestClient]:
    """Log `client` in as `user` through the form (CSRF token and all)."""

    def log_in(client: TestClient, user: str, password: str = PASSWORD) -> TestClient:
        response = client.post("/audit/login", data=login_form(client, user, password))
        assert response.status_code == 303, response.text
        return client

    return log_in


def login_form(client: TestClient, user: str, password: str = PASSWORD) -> dict[str, str]:
    """The login form's fields, with the CSRF token the form page hands out."""
    page = client.get("/audit/login")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return {"username": user, "password": password, "csrf_token": token, "next": "/audit"}


@pytest.fixture
def form_for() -> Callable[..., dict[str, str]]:
    """`login_form` as a fixture (test modules are imported in importlib mode)."""
    return login_form
