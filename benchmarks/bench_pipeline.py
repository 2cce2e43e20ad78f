"""The whole pipeline against the bare generator call, on the same model and seeds.

    python benchmarks/bench_pipeline.py                  # cases for this device
    python benchmarks/bench_pipeline.py --case sd15      # one case
    python benchmarks/bench_pipeline.py --rounds 7 --record

Each round times `generator.generate(request)` (bare) and `Studio.generate(request, out)`
(screen prompt -> generate -> screen each output -> encode -> sign -> atomic write + ledger
row) on one `Generator` object with the same seed; the two run interleaved, alternating which
goes first, and the median round is reported, so load from elsewhere hits both alike.

Cases:
  sd15            Stable Diffusion 1.5 architecture (random weights, built from explicit
                  configs as in bench_generators.py).  GPU: 512x512, 25 steps, float16, one
                  image per request (target: overhead <= 3%).  CPU: 256x256, 4 steps.
  faces           the 64x64 faces DCGAN (trained weights from gan-face-generate when
                  installed), 4 images per request.
  tiny-diffusion  the tiny random-weight diffusion pipeline, 128x128, 12 steps, 2 images.
Default: every case on a GPU; faces and tiny-diffusion on the CPU, where generation is so
cheap that the ratio is dominated by fixed costs: there the absolute overhead per image and
where it goes (the pipeline's own stage timings) are the numbers to read.

Policies are the defaults of a fresh `provenant init` (prompt safety, known works, output
safety, model licence); which layers were active is printed (CLIP layers need a configured
checkpoint, Open-NSFW its package).  `--record` writes results/bench_pipeline-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_generators import RESULTS_DIR, _environment, sd15_generator

CASES = ("sd15", "faces", "tiny-diffusion")
STAGES = ("screen_prompt", "generate", "screen_image", "encode", "sign", "store")
#: Target from the issue: on the GPU, SD 1.5 at 512x512 and 25 steps, overhead <= 3%.
SD15_GPU_TARGET = 1.03


@dataclass
class Case:
    """One model and request shape; `make` returns (generator name, model, request fields)."""

    name: str
    images: int
    what: str
    make: Callable[[Any, Path], tuple[str, str | None, dict[str, Any]]]


@dataclass
class Rounds:
    """Per-image seconds of each round, for the bare call and the pipeline, plus stages."""

    bare: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)


def _faces(studio: Any, home: Path) -> tuple[str, str | None, dict[str, Any]]:
    from provenance.plugins import get_generator

    model = "gan-face-generate"
    if not get_generator("gan").check_weights(model).present:
        from bench_generators import _random_faces_dcgan

        model = str(_random_faces_dcgan(home))
    return "gan", model, {"prompt": "", "num_images": 4, "use": "research"}


def _tiny_diffusion(studio: Any, home: Path) -> tuple[str, str | None, dict[str, Any]]:
    from provenance.generators.tiny import make_tiny_models

    tiny = make_tiny_models(home / "models")
    params = {"steps": 12, "width": 128, "height": 128}
    return "diffusion", str(tiny.diffusion), {"num_images": 2, "params": params}


def _sd15(studio: Any, home: Path) -> tuple[str, str | None, dict[str, Any]]:
    generator, _pipe, _build = sd15_generator(studio.settings.generators.device, home)
    studio.use_generator("diffusion", "sd15-benchmark", generator)
    on_gpu = generator.device.type == "cuda"
    size, steps = (512, 25) if on_gpu else (256, 4)
    params = {"steps": steps, "width": size, "height": size}
    return "diffusion", "sd15-benchmark", {"params": params}


CASE_TABLE = {
    "sd15": Case("sd15", 1, "SD 1.5 architecture, random weights", _sd15),
    "faces": Case("faces", 4, "64x64 faces DCGAN", _faces),
    "tiny-diffusion": Case(
        "tiny-diffusion", 2, "tiny diffusion 128x128, 12 steps", _tiny_diffusion
    ),
}


def _studio(home: Path, device: str) -> Any:
    from provenance.config import CONFIG_NAME, Settings
    from provenance.pipeline.initialise import initialise
    from provenance.pipeline.studio import Studio

    env = {"PROVENANT_DEVICE": device}
    initialise(Settings.load(home=home, env=env), home / CONFIG_NAME)
    return Studio(Settings.load(home=home, env=env))


def run_case(case: Case, device: str, rounds: int, workdir: Path) -> dict[str, Any]:
    """Warm both paths once, then `rounds` interleaved rounds; medians per image."""
    from provenance.types import GenerationRequest

    home = workdir / case.name
    with _studio(home / ".provenant", device) as studio:
        name, model, fields = case.make(studio, home)
        fields.setdefault("prompt", "a lighthouse on a cliff at dusk, oil painting")
        base = GenerationRequest(generator=name, model=model, **fields)
        generator = studio.generator_for(base)
        out = home / "outputs"
        measured = Rounds()
        for index in range(rounds + 1):  # round 0 warms both paths and is not counted
            request = replace(base, request_id=f"bench-{case.name}-{index}", seed=1000 + index)
            bare_first = index % 2 == 0
            bare, (piped, stages) = _round(studio, generator, request, out, bare_first)
            if index:
                measured.bare.append(bare / case.images)
                measured.pipeline.append(piped / case.images)
                measured.stages.append({k: v / case.images for k, v in stages.items()})
        return _summarise(case, measured, generator, studio)


def _round(
    studio: Any, generator: Any, request: Any, out: Path, bare_first: bool
) -> tuple[float, tuple[float, dict[str, float]]]:
    def bare() -> float:
        started = time.perf_counter()
        images = generator.generate(request)
        elapsed = time.perf_counter() - started
        assert len(images) == request.num_images
        return elapsed

    def piped() -> tuple[float, dict[str, float]]:
        started = time.perf_counter()
        result = studio.generate(request, out)
        elapsed = time.perf_counter() - started
        if len(result.images) != request.num_images:
            raise SystemExit(f"{request.request_id}: pipeline gave {result.status}, not images")
        return elapsed, {k: v / 1000 for k, v in result.timings_ms.items()}

    if bare_first:
        first = bare()
        return first, piped()
    second = piped()
    return bare(), second


def _summarise(case: Case, rounds: Rounds, generator: Any, studio: Any) -> dict[str, Any]:
    bare = statistics.median(rounds.bare)
    piped = statistics.median(rounds.pipeline)
    stage_ms = {
        stage: round(statistics.median(s.get(stage, 0.0) for s in rounds.stages) * 1000, 2)
        for stage in STAGES
    }
    overhead_ms = (piped - bare) * 1000
    # Time inside Studio.generate that no stage timer covers: ledger lookups, recovery, ...
    other_ms = piped * 1000 - sum(stage_ms.values())
    info = generator.model_info()
    on_gpu = getattr(getattr(generator, "device", None), "type", "cpu") == "cuda"
    result: dict[str, Any] = {
        "case": case.name,
        "what": case.what,
        "model": f"{info.name} {info.version}",
        "images_per_request": case.images,
        "rounds": len(rounds.bare),
        "bare_ms_per_image": round(bare * 1000, 2),
        "pipeline_ms_per_image": round(piped * 1000, 2),
        "ratio": round(piped / bare, 4),
        "overhead_ms_per_image": round(overhead_ms, 2),
        "stage_ms_per_image": stage_ms,
        "other_ms_per_image": round(other_ms, 2),
        "policies": studio.policies.names,
    }
    if case.name == "sd15" and on_gpu:
        result["target"] = f"<= {SD15_GPU_TARGET}x"
        result["met"] = result["ratio"] <= SD15_GPU_TARGET
    return result


def _describe(result: dict[str, Any]) -> str:
    stages = result["stage_ms_per_image"]
    where = ", ".join(f"{k} {v}" for k, v in stages.items())
    target = ""
    if "target" in result:
        target = f"  target {result['target']}: {'met' if result['met'] else 'MISSED'}"
    return (
        f"{result['case']:<15} bare {result['bare_ms_per_image']:>9} ms/img  "
        f"pipeline {result['pipeline_ms_per_image']:>9} ms/img  "
        f"ratio {result['ratio']:.3f}x  overhead {result['overhead_ms_per_image']} ms/img"
        f"{target}\n"
        f"{'':<15} where (ms/img): {where}, other {result['other_ms_per_image']}"
        f"  [{result['model']}]"
    )


def main() -> None:
    """Run the chosen cases, print ratios and overheads, optionally record them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=CASES, action="append", help="default: per device")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per case")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("--record", action="store_true", help="write results/*.json")
    args = parser.parse_args()
    environment = _environment(args.device)
    default = CASES if environment["device"] == "cuda" else ("faces", "tiny-diffusion")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.case or default:
            result = run_case(CASE_TABLE[name], args.device, args.rounds, Path(workdir))
            results.append(result)
            print(json.dumps(result) if args.json else _describe(result), flush=True)
    if results and not args.json:
        print(f"policies: {', '.join(results[0]['policies'])}; device {environment['device']}")
    if args.record:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"bench_pipeline-{environment['device']}.json"
        path.write_text(json.dumps({"environment": environment, "results": results}, indent=2))
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
