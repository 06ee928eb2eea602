"""One speed case in a process of its own, so that its peak memory is its own:

    python -m refocus_cli.bench.speed_case --engine physics --size 640x480 --blur 8 --runs 3 --budget 5

Loads the motorcycle at that size, renders it once to warm up, then times renders until `--runs` are done or
`--budget` seconds have gone (at least one), and prints one JSON line: the seconds of each timed run and, on
CUDA, the peak memory the device allocated. The parent reads the process's peak RSS from wait4.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def time_runs(render: Callable[[], object], runs: int, budget_s: float, sync: Callable[[], None]) -> list[float]:
    """Seconds of each call of `render` after one warm-up call: `runs` of them, fewer when the timed calls pass
    `budget_s` (at least one).

    >>> len(time_runs(lambda: None, 3, 10.0, lambda: None))
    3
    """
    render()
    sync()
    seconds: list[float] = []
    while len(seconds) < runs and (not seconds or sum(seconds) < budget_s):
        start = time.perf_counter()
        render()
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds


def run_case(
    engine_name: str,
    width: int,
    height: int,
    blur_k_px: float,
    runs: int,
    budget_s: float,
    device_name: str,
    checkpoint: Path | None,
) -> dict[str, Any]:
    """Time one engine on the motorcycle at width x height and K; the record the child prints."""
    import torch

    from refocus_cli.bench.engines import engine_named
    from refocus_cli.bench.inputs import motorcycle_tensors
    from refocus_cli.devices import resolve_device

    device = resolve_device(device_name)
    engine = engine_named(engine_name, checkpoint, device_name)
    image, disparity, focus = motorcycle_tensors(width, height)
    image, disparity = image.to(device), disparity.to(device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        seconds = time_runs(lambda: engine.render(image, disparity, focus, blur_k_px), runs, budget_s, sync)
    return {
        "engine": engine.name,
        "size": f"{width}x{height}",
        "blur": blur_k_px,
        "focus_disparity": round(focus, 5),
        "runs_s": [round(s, 5) for s in seconds],
        "device": str(device),
        "threads": torch.get_num_threads(),
        "peak_device_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--size", required=True, help="WIDTHxHEIGHT")
    parser.add_argument("--blur", type=float, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    record = run_case(args.engine, width, height, args.blur, args.runs, args.budget, args.device, args.checkpoint)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
