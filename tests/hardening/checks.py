"""What each command does with a hostile file, called the way the CLI calls it.

A check returns ("accepted" | "rejected", detail).  Anything that escapes other than a
`ProvenantError` the command would catch is what the CLI would print as a traceback: the
runner records it as a crash.  Rejections must carry a one-line reason.

`verify`, `screen --image`, `works add` and `sign` run in-process through the library
functions their commands call; the `cli-*` checks invoke the real typer app (CliRunner).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.config import Settings
from provenance.errors import PolicyBlocked, ProvenantError

IN_PROCESS = ("verify", "screen", "works", "sign")
CLI = ("cli-verify", "cli-verify-views", "cli-screen", "cli-works", "cli-sign")
#: The report views of `provenant verify` (human table, JSON, and the c2patool-like views).
VERIFY_VIEWS: tuple[tuple[str, ...], ...] = (
    (),
    ("--json",),
    ("--tree",),
    ("--certs",),
    ("--detailed",),
    ("--tree", "--json"),
)
#: Exit codes each command may end with on bad input (DESIGN.md's table).
CLI_EXIT_CODES = {
    "cli-verify": {0, 1, 4},
    "cli-verify-views": {0, 1, 4},
    "cli-screen": {0, 1, 3},
    "cli-works": {0, 1},
    "cli-sign": {0, 1, 3},
}


class CheckFailed(Exception):
    """A command misbehaved without raising (no reason given, a multi-line message...)."""


@dataclass
class CheckContext:
    """Everything the checks reuse across files: verifier, policies, studio, scratch dirs."""

    home: Path
    scratch: Path
    settings: Settings = field(init=False)
    _parts: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.settings = Settings.load(home=self.home, env={})
        self.scratch.mkdir(parents=True, exist_ok=True)

    def part(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._parts:
            self._parts[name] = build()
        return self._parts[name]

    def close(self) -> None:
        studio = self._parts.get("studio")
        if studio is not None:
            studio.close()


class MemoPolicySet:
    """The studio's policies, each distinct picture judged once.

    Most hostile files that still decode carry the pixels of their seed (the damage sits in
    metadata), and a verdict is a pure function of the pixels and the request; memoising
    keeps ten thousand files affordable while every file is still read and decoded.
    """

    def __init__(self, settings: Settings) -> None:
        from provenance.pipeline.policyset import PolicySet

        self._inner = PolicySet.from_settings(settings)
        self._verdicts: dict[tuple[str, str], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def screen_image(self, image: Any, request: Any) -> Any:
        import hashlib

        pixels = image.pixels
        digest = hashlib.sha256(pixels.tobytes()).hexdigest() + f"{pixels.size}{pixels.mode}"
        key = (digest, request.prompt)
        if key not in self._verdicts:
            self._verdicts[key] = self._inner.screen_image(image, request)
        return self._verdicts[key]


def _one_line(text: str, what: str) -> str:
    if not text or "\n" in text or "Traceback" in text:
        raise CheckFailed(f"{what}: reason is not one line: {text!r}")
    return text


def check_verify(ctx: CheckContext, path: Path) -> tuple[str, str]:
    from provenance.verify.verifier import State, Verifier

    verifier = ctx.part("verifier", lambda: Verifier(ctx.settings))
    report = verifier.verify_file(path)
    reason = _one_line(report.reason, "verify")
    if report.state is State.TRUSTED:
        return "accepted", reason
    return "rejected", f"{report.state.value}: {reason}"


def check_screen(ctx: CheckContext, path: Path) -> tuple[str, str]:
    from provenance.imageio import open_image
    from provenance.pipeline.policyset import as_screenable
    from provenance.types import GenerationRequest

    policies = ctx.part("policies", lambda: MemoPolicySet(ctx.settings))
    try:
        pixels = open_image(path).convert("RGB")
        verdict = policies.screen_image(as_screenable(pixels), GenerationRequest("", "none"))
    except ProvenantError as exc:
        return "rejected", _one_line(exc.diagnostics(), "screen")
    return "accepted", verdict.action.value


def check_works(ctx: CheckContext, path: Path) -> tuple[str, str]:
    from provenance.policies.known_works.prepare import prepare_work
    from provenance.policies.known_works.specs import parse_spec

    fields = {
        "id": f"w-{path.stem}",
        "title": "hostile file",
        "kind": "artwork",
        "license": "all-rights-reserved",
        "images": [path],
    }
    try:
        prepared = prepare_work(parse_spec(fields, "works add"), None)
    except ProvenantError as exc:
        return "rejected", _one_line(exc.diagnostics(), "works add")
    return "accepted", f"{len(prepared.images)} image(s)"


def check_sign(ctx: CheckContext, path: Path) -> tuple[str, str]:
    from provenance.pipeline.external import ImportSpec, sign_external
    from provenance.pipeline.studio import Studio

    policies = ctx.part("policies", lambda: MemoPolicySet(ctx.settings))
    studio = ctx.part("studio", lambda: Studio(ctx.settings, policies=policies))
    out = ctx.scratch / "signed"
    try:
        result = sign_external(studio, path, ImportSpec("other-tool", "other-model"), out)
    except PolicyBlocked as exc:
        return "rejected", "blocked: " + _one_line(exc.diagnostics(), "sign")
    except ProvenantError as exc:
        return "rejected", _one_line(exc.diagnostics(), "sign")
    with contextlib.suppress(OSError):
        result.path.unlink()
    return "accepted", result.asset_id


def _harness_sleep(_ctx: CheckContext, _path: Path) -> tuple[str, str]:
    import time

    time.sleep(3600)
    return "accepted", "woke up"


def _harness_abort(_ctx: CheckContext, _path: Path) -> tuple[str, str]:
    import os

    os.abort()


def _harness_raise(_ctx: CheckContext, _path: Path) -> tuple[str, str]:
    raise KeyError("escaped")


IN_PROCESS_CHECKS: dict[str, Callable[[CheckContext, Path], tuple[str, str]]] = {
    "verify": check_verify,
    "screen": check_screen,
    "works": check_works,
    "sign": check_sign,
    # The harness's own failure modes, to show that hangs and crashes are counted.
    "harness-sleep": _harness_sleep,
    "harness-abort": _harness_abort,
    "harness-raise": _harness_raise,
}


def cli_args(command: str, home: Path, out: Path, paths: Sequence[Path]) -> list[str]:
    """The command line one `cli-*` check runs (several files per run where it takes them)."""
    files = [str(p) for p in paths]
    base = ["--home", str(home)]
    if command == "cli-verify":  # each view renders the report its own way
        view = VERIFY_VIEWS[sum(map(ord, files[0])) % len(VERIFY_VIEWS)]
        return [*base, "verify", *view, *files]
    if command == "cli-screen":
        return [*base, "screen", "--json", "--image", *files]
    if command == "cli-works":
        assert len(files) == 1, "works add takes one file per work here"
        stem = Path(files[0]).stem
        return [*base, "works", "add", "--no-index", "--json", "--id", f"cli-{stem}",
                "--title", f"hostile {stem}", "--kind", "artwork",
                "--license", "all-rights-reserved", files[0]]  # fmt: skip
    return [*base, "sign", "--json", "--generator", "other-tool", "--model", "m",
            "--out", str(out), *files]  # fmt: skip


def run_cli(command: str, home: Path, out: Path, paths: Sequence[Path]) -> tuple[str, str]:
    """One real invocation of the typer app (`cli-verify-views`: one per verify view)."""
    if command != "cli-verify-views":
        return _invoke(command, cli_args(command, home, out, paths), out)
    codes = []
    for view in VERIFY_VIEWS:
        args = ["--home", str(home), "verify", *view, *map(str, paths)]
        codes.append(_invoke("cli-verify", args, out)[1])
    return ("accepted" if codes == ["exit 0"] * len(codes) else "rejected"), ", ".join(codes)


def _invoke(command: str, args: list[str], out: Path) -> tuple[str, str]:
    """Run the app; a traceback, an odd exit code or a stray output line is a failure."""
    from typer.testing import CliRunner

    from provenance.cli import app

    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        kind = type(result.exception).__name__
        raise CheckFailed(f"{command}: {kind}: {result.exception}")
    if "Traceback" in result.stderr or "Traceback" in result.stdout:
        raise CheckFailed(f"{command}: traceback printed")
    if result.exit_code not in CLI_EXIT_CODES[command]:
        raise CheckFailed(f"{command}: exit {result.exit_code}: {result.stderr[-300:]!r}")
    if "--json" in args:
        _check_json_lines(command, result.stdout)
    for line in result.stderr.splitlines():
        if line.strip() and not line.startswith(("error: ", "warning: ")):
            raise CheckFailed(f"{command}: stray stderr line {line[:160]!r}")
    if command == "cli-sign":
        for signed in out.glob("*"):
            signed.unlink()
    status = "accepted" if result.exit_code == 0 else "rejected"
    return status, f"exit {result.exit_code}"


def _check_json_lines(command: str, stdout: str) -> None:
    for line in stdout.splitlines():
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise CheckFailed(f"{command}: stdout line is not JSON: {line[:120]!r}") from exc
