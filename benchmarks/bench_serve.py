"""`provenant serve` under load, on loopback only: verify latency and concurrent generation.

    python benchmarks/bench_serve.py [--requests 200] [--connections 16] [--workers 2] [--json]

Sections:
  verify     one `POST /api/verify` at a time (median of 20), then `--requests` requests over
             `--connections` concurrent keep-alive connections: errors (target 0) and p95
             latency against the single request's (target <= 3x)
  generate   4 `POST /api/generate` jobs at once on the tiny GAN: 4 complete ledger rows and
             the chain intact (`audit verify-chain`)

Everything runs in a fresh data dir made by `provenant init`, with the real console script
serving it; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

PROVENANT = str(Path(sys.executable).parent / "provenant")


def _run(home: Path, *args: str) -> str:
    env = {**os.environ, "PROVENANT_HOME": str(home)}
    done = subprocess.run([PROVENANT, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"provenant {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _studio(root: Path) -> tuple[Path, Path, str]:
    """A data dir with a lead's token and a configured tiny GAN; returns a signed file."""
    home = root / "home"
    _run(home, "init", "--json")
    models = json.loads(_run(home, "models", "make-tiny", str(root / "models"), "--json"))
    token = json.loads(_run(home, "users", "token", "--json"))
    config = home / "provenant.toml"
    config.write_text(
        config.read_text()
        + f'\n[generators.gan]\nmodel = "{models["gan"]}"\n'
        + f'[serve.users.bench]\nrole = "lead"\ntoken_sha256 = "{token["token_sha256"]}"\n'
    )
    photo = root / "photo.png"
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)).save(photo)
    out = _run(home, "sign", str(photo), "-g", "external", "-m", "m", "--out", str(root / "s"),
               "--json")  # fmt: skip
    signed = Path(json.loads(next(x for x in out.splitlines() if x.startswith("{")))["path"])
    return home, signed, token["token"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(home: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PROVENANT_HOME": str(home)}
    cmd = [PROVENANT, "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("provenant serve did not start")


def bench_verify(url: str, signed: Path, requests: int, connections: int) -> dict[str, Any]:
    data = signed.read_bytes()
    files = {"file": ("s.png", data, "image/png")}
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(3):  # warm every worker's verifier
            client.post("/api/verify", files=files)
        single = []
        for _ in range(20):
            start = time.perf_counter()
            response = client.post("/api/verify", files=files)
            single.append(time.perf_counter() - start)
            assert response.json()["state"] == "trusted", response.text

    def one(client: httpx.Client) -> tuple[float, bool]:
        start = time.perf_counter()
        response = client.post("/api/verify", files=files)
        ok = response.status_code == 200 and response.json()["state"] == "trusted"
        return time.perf_counter() - start, ok

    clients = [httpx.Client(base_url=url, timeout=120) for _ in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda i: one(clients[i % connections]), range(requests)))
        wall = time.perf_counter() - start
    for client in clients:
        client.close()
    latencies = sorted(t for t, _ in results)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    base = statistics.median(single)
    return {
        "section": "verify",
        "single_ms": round(base * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "ratio": round(p95 / base, 2),
        "errors": sum(not ok for _, ok in results),
        "requests": requests,
        "connections": connections,
        "requests_per_s": round(requests / wall, 1),
        "target": "0 errors, p95 <= 3x single",
        "met": all(ok for _, ok in results) and p95 <= 3 * base,
    }


def bench_generate(url: str, home: Path, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            jobs = list(pool.map(
                lambda i: client.post("/api/generate", json={
                    "id": f"bench-{i}", "prompt": "a lighthouse", "generator": "gan", "seed": i,
                }).json(),
                range(4),
            ))  # fmt: skip
        done = []
        for job in jobs:
            while (status := client.get(job["status_url"]).json())["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.2)
            done.append(status)
        wall = time.perf_counter() - start
    assets = [i for s in done for i in (s.get("outcome") or {}).get("images", [])]
    chain = json.loads(_run(home, "audit", "verify-chain", "--json").splitlines()[-1])
    return {
        "section": "generate",
        "jobs": len(jobs),
        "done": sum(s["status"] == "done" for s in done),
        "ledger_rows": len(assets),
        "chain_ok": bool(chain.get("ok")),
        "wall_s": round(wall, 2),
        "target": "4 complete rows, chain intact",
        "met": len(assets) == 4 and bool(chain.get("ok")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        home, signed, token = _studio(Path(tmp))
        process, url = _serve(home, args.workers)
        try:
            rows = [
                bench_verify(url, signed, args.requests, args.connections),
                bench_generate(url, home, token),
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    for row in rows:
        print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
