"""`provenant verify` as users run it, timed against a bare c2pa Reader loop process.

Used by the `cli_*` sections of `bench_provenance.py`.  The corpus is a studio made by
`provenant init`, N signed PNGs and one ledger row for each; it is cached in the system
temp dir (keyed by N, size and a format version) because signing 600 files costs more than
the measurement.  Every timing is a whole process: interpreter start, imports, settings,
the ledger cross-check (on unless `--no-ledger` is passed), output to /dev/null.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW_LOOP = HERE / "raw_reader_loop.py"
CORPUS_VERSION = 1


@dataclass(frozen=True)
class Corpus:
    """A cached studio: its data dir, the folder of signed files, and the trust anchor."""

    home: Path
    folder: Path
    anchor: Path

    @property
    def files(self) -> list[Path]:
        """The signed files, sorted."""
        return sorted(self.folder.glob("*.png"))


def corpus(files: int, size: int, root: Path | None = None) -> Corpus:
    """The cached corpus for (files, size), made on first use (`provenant init` + signing)."""
    base = root or Path(tempfile.gettempdir())
    where = base / f"provenant-bench-cli-v{CORPUS_VERSION}-{files}x{size}"
    found = Corpus(where / "home", where / "signed", where / "home" / "keys" / "dev-root-ca.pem")
    if (where / "ready.json").is_file():
        return found
    if where.exists():
        import shutil

        shutil.rmtree(where)  # an earlier run stopped half-way
    where.mkdir(parents=True)
    _run(["provenant", "--home", str(found.home), "init", "--json"], check=True)
    _sign_and_record(found, files, size)
    (where / "ready.json").write_text(json.dumps({"files": files, "size": size}) + "\n")
    return found


def _sign_and_record(found: Corpus, files: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    from provenance.config import Settings
    from provenance.credentials.manifest import build_manifest
    from provenance.credentials.signing import CredentialSigner
    from provenance.imageio import encode_image
    from provenance.ledger import AssetRecord, Ledger

    sys.path.insert(0, str(HERE))
    from bench_provenance import _spec

    settings = Settings.load(home=found.home, env={})
    found.folder.mkdir()
    rng = np.random.default_rng(0)
    records = []
    with CredentialSigner.from_settings(settings) as signer:
        for i in range(files):
            pixels = rng.integers(0, 255, (size, size, 3), np.uint8)
            data = encode_image(Image.fromarray(pixels), "image/png")
            signed = signer.sign(data, "image/png", build_manifest(_spec(i)))
            path = found.folder / f"{i:04d}.png"
            path.write_bytes(signed.data)
            records.append(
                AssetRecord(
                    asset_id=f"ast-{i}",
                    request_id=f"bench-{i}",
                    image_index=0,
                    sha256=signed.sha256,
                    path=str(path),
                    mime="image/png",
                    generator="gan",
                    model={"name": "bench-model", "version": "1"},
                    seed=i,
                    prompt=f"benchmark image {i}",
                    manifest_label=signed.manifest_label,
                )
            )
    with Ledger.from_settings(settings) as ledger:
        ledger.append_many(records)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}


def _run(argv: Sequence[str], *, check: bool = False) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return done


def timed(argv: Sequence[str], expect: int = 0) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = _run(argv)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def verify_argv(found: Corpus, *args: str) -> list[str]:
    """`provenant --home HOME verify ARGS...` with the console script of this interpreter."""
    script = Path(sys.executable).parent / "provenant"
    return [str(script), "--home", str(found.home), "verify", *args]


def raw_argv(found: Corpus) -> list[str]:
    """The bare Reader loop over the corpus, as its own process."""
    return [sys.executable, str(RAW_LOOP), str(found.folder), str(found.anchor)]


def interleaved(commands: dict[str, list[str]], rounds: int) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each command, run in alternating rounds.

    Alternating makes load from other processes hit every side alike; the median of the
    rounds is what is reported, with the spread (min, max) of the wall times.
    """
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            wall, cpu = timed(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: {
            "wall": statistics.median(walls[name]),
            "cpu": statistics.median(cpus[name]),
            "wall_min": min(walls[name]),
            "wall_max": max(walls[name]),
        }
        for name in commands
    }
