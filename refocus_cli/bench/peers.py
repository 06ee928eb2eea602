"""Side by side with peers: `refocus stack --fuse` against Debian's align_image_stack + enfuse on the real
stacks, and the layered renderer against a plain 32-layer FFT renderer (`bench/fft_layers.py`).

Fusion: each tool runs as a whole process on the stack's frames; CPU time (user + system), wall time and peak
resident memory come from wait4's rusage (the peers' two processes added up, their peak the larger), and the
sharpness figure (`bench/sharpness.py`) is taken of both outputs. The peers' recipe is the usual one for focus
stacks: `align_image_stack -m -a aligned_ FRAMES` (magnification fitted), then `enfuse --exposure-weight=0
--saturation-weight=0 --contrast-weight=1 --hard-mask`. When the tools are absent and apt-get is usable they are
installed (`PEER_PACKAGES`); otherwise the fusion rows are skipped with a note.

Renderer: both render the bundled motorcycle in this process, warmed up once, then timed alternately (the
median of each); fidelity: PSNR (sRGB) of both against the exact reference on the fidelity bench's scenes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PEER_TOOLS = ("align_image_stack", "enfuse")
PEER_PACKAGES = (("enblend-enfuse", "hugin-tools"), ("enfuse", "hugin-tools"))
"""Debian's package names, tried in order (bookworm ships enfuse alone as `enfuse`)."""
ENFUSE_OPTIONS = ("--exposure-weight=0", "--saturation-weight=0", "--contrast-weight=1", "--hard-mask")
STACKS = ("keyboard-stack", "pcb-stack")


@dataclass(frozen=True)
class ProcessCost:
    """What a run cost: CPU seconds (user + system, the process and its threads), wall seconds, peak RSS MB."""

    cpu_s: float
    wall_s: float
    peak_mb: float

    def __add__(self, other: ProcessCost) -> ProcessCost:
        """Two processes run one after the other: times add up, the peak is the larger."""
        return ProcessCost(self.cpu_s + other.cpu_s, self.wall_s + other.wall_s, max(self.peak_mb, other.peak_mb))


LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss]))
"""
"""Runs a command and prints its wait4 figures. A child forked from this process (with its torch and frames)
would count the parent's memory in its peak (Linux keeps the high-water mark across fork and exec); forked from
this small launcher (python -S) it starts from a few MB."""


def measure_process(command: list[str], *, cwd: Path | None = None) -> ProcessCost:
    """Run `command` to the end (its output discarded) and measure it by wait4, through `LAUNCHER`.

    Raises:
        RuntimeError: it exited non-zero (the message holds the last line it wrote on stderr).
    """
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    code, cpu_s, wall_s, peak_kb = json.loads(lines[-1]) if lines else (done.returncode, 0.0, 0.0, 0)
    if code != 0:
        problem = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"{' '.join(command[:2])} ... failed: {problem[-1] if problem else 'no message'}")
    return ProcessCost(cpu_s, wall_s, peak_kb / 1024.0)  # ru_maxrss is in KiB on Linux


def missing_tools() -> list[str]:
    """The peer tools not on PATH."""
    return [tool for tool in PEER_TOOLS if shutil.which(tool) is None]


def install_peers() -> str | None:
    """Install the peers with apt-get when they are absent; None when they are there, else a one-line note on
    why the fusion rows are skipped."""
    if not missing_tools():
        return None
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return f"peers skipped: {', '.join(missing_tools())} absent and apt-get not usable here (needs root)"
    for update in (False, True):
        if update:
            subprocess.run([apt, "update", "-qq"], capture_output=True, check=False, timeout=600)
        for packages in PEER_PACKAGES:
            subprocess.run([apt, "install", "-y", "-qq", *packages], capture_output=True, check=False, timeout=900)
            if not missing_tools():
                return None
    return f"peers skipped: apt-get could not install {' or '.join(p[0] for p in PEER_PACKAGES)} and hugin-tools"


@dataclass(frozen=True)
class FusionSideBySide:
    """One stack fused by both: each one's cost and sharpness figure (`bench/sharpness.py`)."""

    stack: str
    frames: int
    size_wh: tuple[int, int]
    ours: ProcessCost
    peers: ProcessCost
    ours_sharp: float
    peers_sharp: float


def stack_frame_paths(folder: Path) -> list[Path]:
    """The frames of a stack folder in focus order (`real_stacks.stack_frames`)."""
    from refocus_cli.bench.real_stacks import stack_frames

    return list(stack_frames(folder))


def fuse_both(folder: Path, workdir: Path) -> FusionSideBySide:
    """Fuse the stack in `folder` with ours and with the peers (outputs in `workdir`), measure and score both."""
    from refocus_cli.bench.sharpness import sharpness_score
    from refocus_cli.io.images import read_image

    frames = stack_frame_paths(folder)
    ours_out, peers_out = workdir / f"{folder.name}-ours.tif", workdir / f"{folder.name}-peers.tif"
    command = [sys.executable, "-m", "refocus_cli.cli", "stack", "--fuse", *map(str, frames), "-o", str(ours_out)]
    ours = measure_process([*command, "--overwrite", "--quiet"])  # as a user runs it: the depth map written too
    aligned_prefix = workdir / f"{folder.name}-aligned_"
    peers = measure_process(["align_image_stack", "-m", "-a", str(aligned_prefix), *map(str, frames)])
    aligned = sorted(workdir.glob(f"{aligned_prefix.name}*.tif"))
    peers = peers + measure_process(["enfuse", *ENFUSE_OPTIONS, f"--output={peers_out}", *map(str, aligned)])
    linear = [read_image(path).linear.float() for path in frames]
    ours_image, peers_image = (read_image(path).linear.float() for path in (ours_out, peers_out))
    return FusionSideBySide(
        stack=folder.name,
        frames=len(frames),
        size_wh=(int(linear[0].shape[-1]), int(linear[0].shape[-2])),
        ours=ours,
        peers=peers,
        ours_sharp=sharpness_score(ours_image, linear).share,
        peers_sharp=sharpness_score(peers_image, linear).share,
    )


@dataclass(frozen=True)
class RendererSideBySide:
    """Median seconds per render of the layered renderer and the FFT one, measured alternately in one run."""

    size_wh: tuple[int, int]
    blur_k_px: float
    layered_s: float
    fft_s: float
    runs: int

    @property
    def ratio(self) -> float:
        """How many times faster the layered renderer is."""
        return self.fft_s / self.layered_s


def time_renderers(width: int, height: int, blur_k_px: float, runs: int) -> RendererSideBySide:
    """Both renderers on the motorcycle at width x height and K, in this process: one warm-up each, then `runs`
    alternating timed renders of each."""
    import torch

    from refocus_cli.bench.engines import PHYSICS
    from refocus_cli.bench.fft_layers import render_fft_layers
    from refocus_cli.bench.inputs import motorcycle_tensors
    from refocus_cli.lens import signed_coc_px

    image, disparity, focus = motorcycle_tensors(width, height)

    def layered() -> object:
        return PHYSICS.render(image, disparity, focus, blur_k_px)

    def fft() -> object:
        return render_fft_layers(image, signed_coc_px(disparity, focus, blur_k_px))

    seconds: dict[str, list[float]] = {"layered": [], "fft": []}
    with torch.no_grad():
        layered(), fft()
        for _ in range(runs):
            for name, render in (("layered", layered), ("fft", fft)):
                start = time.perf_counter()
                render()
                seconds[name].append(time.perf_counter() - start)
    return RendererSideBySide(
        (width, height), blur_k_px, statistics.median(seconds["layered"]), statistics.median(seconds["fft"]), runs
    )


def renderer_psnr(scenes: int, size_hw: tuple[int, int], blur_k_px: float, seed: int) -> tuple[float, float]:
    """Mean PSNR (dB, sRGB) of the layered renderer and of the FFT one against the exact reference on the
    fidelity bench's scenes (`bench.fidelity.scene_case`)."""
    import torch

    from refocus_cli.bench.engines import PHYSICS
    from refocus_cli.bench.fft_layers import render_fft_layers
    from refocus_cli.bench.fidelity import engine_scores, scene_case, srgb_scores
    from refocus_cli.lens import signed_coc_px

    ours, fft = [], []
    for index in range(scenes):
        case = scene_case(seed, index, size_hw, blur_k_px)
        ours.append(engine_scores(PHYSICS, case, blur_k_px, "cpu")[0])
        coc = signed_coc_px(case.scene.disparity_map(), case.focus_disparity, blur_k_px)
        with torch.no_grad():
            fft.append(srgb_scores(render_fft_layers(case.scene.pinhole_image(), coc), case.truth)[0])
    return statistics.mean(ours), statistics.mean(fft)
