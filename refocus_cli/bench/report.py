"""What `refocus bench` is asked for and what it answers: a request, rows of figures beside their baselines,
sections, and the machine they were measured on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from refocus_cli.errors import SettingsError

SECTIONS = ("speed", "fidelity", "real", "peers")
"""The report's sections, in the order they run and print."""

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class BenchRequest:
    """One bench run.

    Attributes:
        quick: the CI-sized plan (small inputs, few runs) instead of the full one.
        device: "auto", "cpu" or "cuda"; every engine renders there (the exact reference stays on the CPU).
        sections: which of `SECTIONS` to run, in any order.
        seed: seeds every procedural scene, clip and aperture sampling.
        model: a learned engine's checkpoint folder; None looks under `models/`.
        data: the folder of real focal stacks for the `real` section; None = `../shared/data` beside the
            repository (the section is skipped, with a note, when it holds none).
    """

    quick: bool = False
    device: str = "auto"
    sections: tuple[str, ...] = SECTIONS
    seed: int = 0
    model: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.sections if name not in SECTIONS]
        if unknown or not self.sections:
            raise SettingsError(
                f"--sections must name some of {', '.join(SECTIONS)}, got {','.join(self.sections) or 'nothing'}"
            )
        if self.seed < 0:
            raise SettingsError(f"--seed must be 0 or more, got {self.seed}")


def parse_sections(text: str) -> tuple[str, ...]:
    """`"speed,fidelity"` -> ("speed", "fidelity"): comma-separated, spaces ignored, duplicates dropped, in the
    report's order.

    >>> parse_sections("fidelity, speed,fidelity")
    ('speed', 'fidelity')
    """
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(SECTIONS))
    if unknown or not names:
        raise SettingsError(f"--sections must name some of {', '.join(SECTIONS)}, got {text!r}")
    return tuple(name for name in SECTIONS if name in names)


@dataclass(frozen=True)
class BenchRow:
    """One figure beside its baseline's.

    Attributes:
        name: what is measured: an engine ("physics"), or a part ("restore", "focus stacking", ...).
        case: the setting ("640x480, K 8", "K 12, 3 scenes 96x128").
        metric: "median time", "throughput", "peak memory", "fps", "PSNR", "SSIM", "flicker".
        value: our figure, in `unit`.
        baseline: the baseline's name ("naive gather", "no restore", ...).
        baseline_value: the baseline's figure in `unit`; None when it was not run (`note` says why).
        unit: "s", "MP/s", "MB", "fps", "dB", "" (SSIM), "levels" (8-bit).
        better: whether a higher or a lower figure is better.
        note: anything a reader needs to trust the row (runs, why a baseline was not run).
    """

    name: str
    case: str
    metric: str
    value: float
    baseline: str
    baseline_value: float | None
    unit: str
    better: Better
    note: str = ""

    def gain(self) -> float | None:
        """How much better than the baseline: the difference for dB and SSIM (positive = better), otherwise
        the factor (above 1 = better); None without a baseline figure.

        >>> BenchRow("r", "c", "PSNR", 40.0, "b", 38.5, "dB", "higher").gain()
        1.5
        >>> BenchRow("r", "c", "median time", 1.0, "b", 4.0, "s", "lower").gain()
        4.0
        """
        if self.baseline_value is None or not math.isfinite(self.baseline_value):
            return None
        if self.unit == "dB" or self.metric == "SSIM":
            difference = self.value - self.baseline_value
            return difference if self.better == "higher" else -difference
        if self.better == "higher":
            return self.value / self.baseline_value if self.baseline_value else math.inf
        return self.baseline_value / self.value if self.value else math.inf

    def gain_text(self) -> str:
        """The gain as printed: "+1.50 dB", "+0.004", "4.00x", or "not run".

        >>> BenchRow("r", "c", "PSNR", 40.0, "b", 38.5, "dB", "higher").gain_text()
        '+1.50 dB'
        """
        gain = self.gain()
        if gain is None:
            return "not run"
        if self.unit == "dB":
            return f"{gain:+.2f} dB"
        if self.metric == "SSIM":
            return f"{gain:+.4f}"
        return f"{gain:.2f}x"

    def to_record(self) -> dict[str, Any]:
        gain = self.gain()
        return {
            "name": self.name,
            "case": self.case,
            "metric": self.metric,
            "value": _rounded(self.value),
            "baseline": self.baseline,
            "baseline_value": None if self.baseline_value is None else _rounded(self.baseline_value),
            "unit": self.unit,
            "better": self.better,
            "gain": None if gain is None else _rounded(gain),
            "note": self.note,
        }


def _rounded(value: float) -> float:
    """Six significant digits: enough for any figure here, short enough to read.

    >>> _rounded(0.000312345678), _rounded(45.49371234)
    (0.000312346, 45.4937)
    """
    return float(f"{value:.6g}")


@dataclass(frozen=True)
class StepResult:
    """What one step of the bench adds: rows, and notes for the reader."""

    rows: tuple[BenchRow, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchSection:
    """One section of the report ("speed", "fidelity", "real" or "peers"): its rows, notes and wall time."""

    name: str
    rows: tuple[BenchRow, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_record(self) -> dict[str, Any]:
        return {
            "rows": [row.to_record() for row in self.rows],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class Environment:
    """The machine and software a report was measured with."""

    torch_version: str
    device: str
    device_name: str
    cpu_count: int
    torch_threads: int
    python_version: str
    platform: str
    date: str

    def to_record(self) -> dict[str, Any]:
        return {
            "torch": self.torch_version,
            "device": self.device,
            "device_name": self.device_name,
            "cpu_count": self.cpu_count,
            "torch_threads": self.torch_threads,
            "python": self.python_version,
            "platform": self.platform,
            "date": self.date,
        }


@dataclass(frozen=True)
class BenchReport:
    """The whole answer: `to_record()` is the `--json` document."""

    request: BenchRequest
    environment: Environment
    sections: tuple[BenchSection, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    engines: tuple[str, ...] = ("physics",)

    def section(self, name: str) -> BenchSection | None:
        return next((section for section in self.sections if section.name == name), None)

    def to_record(self) -> dict[str, Any]:
        return {
            "quick": self.request.quick,
            "seed": self.request.seed,
            "sections": list(self.request.sections),
            "engines": list(self.engines),
            "environment": self.environment.to_record(),
            **{section.name: section.to_record() for section in self.sections},
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }
