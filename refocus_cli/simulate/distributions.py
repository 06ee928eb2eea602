"""Random distributions for the simulation's parameters, as a TOML file writes them.

A parameter is a plain value (fixed) or a table naming its distribution:

    k = 8.0                                                        # always 8
    k = {distribution = "uniform", low = 2.0, high = 24.0}
    fnumber = {distribution = "log-uniform", low = 1.4, high = 16.0}
    blades = {distribution = "integer", low = 5, high = 9}         # both ends included
    shape = {distribution = "choice", values = ["disc", "polygon"], weights = [0.6, 0.4]}

Every draw takes an explicit `torch.Generator`, so a seed decides everything. `contains` says whether a value
could have come from the distribution (the dataset tests check every manifest row with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from refocus_cli.errors import SettingsError

Value = float | int | str


@dataclass(frozen=True)
class Fixed:
    """Always `value`."""

    value: Value

    def sample(self, generator: torch.Generator) -> Value:
        return self.value

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)

    def to_record(self) -> Value:
        return self.value


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float

    def sample(self, generator: torch.Generator) -> float:
        return self.low + (self.high - self.low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low - 1e-9 <= value <= self.high + 1e-9

    def to_record(self) -> dict[str, Any]:
        return {"distribution": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class LogUniform:
    """log(value) uniform on [log low, log high]: each doubling equally likely (f-numbers, focal lengths)."""

    low: float
    high: float

    def sample(self, generator: torch.Generator) -> float:
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low * (1 - 1e-9) <= value <= self.high * (1 + 1e-9)

    def to_record(self) -> dict[str, Any]:
        return {"distribution": "log-uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Integer:
    """A whole number uniform on low..high, both included."""

    low: int
    high: int

    def sample(self, generator: torch.Generator) -> int:
        return int(torch.randint(self.low, self.high + 1, (), generator=generator))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def to_record(self) -> dict[str, Any]:
        return {"distribution": "integer", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Choice:
    """One of `values`, with probabilities proportional to `weights` (equal when not given)."""

    values: tuple[Value, ...]
    weights: tuple[float, ...]

    def sample(self, generator: torch.Generator) -> Value:
        index = int(torch.multinomial(torch.tensor(self.weights, dtype=torch.float64), 1, generator=generator))
        return self.values[index]

    def contains(self, value: Any) -> bool:
        return any(value == v and w > 0 for v, w in zip(self.values, self.weights, strict=True))

    def to_record(self) -> dict[str, Any]:
        return {"distribution": "choice", "values": list(self.values), "weights": list(self.weights)}


Distribution = Fixed | Uniform | LogUniform | Integer | Choice


def parse_distribution(where: str, spec: Any, *, numeric: bool = True) -> Distribution:
    """A distribution from its TOML form (see the module docstring); `where` names it in errors.

    Raises:
        SettingsError: an unknown distribution, a missing or wrong bound, low above high, bad weights.

    >>> parse_distribution("blur.k", {"distribution": "uniform", "low": 2, "high": 24})
    Uniform(low=2.0, high=24.0)
    >>> parse_distribution("stack.frames", 5)
    Fixed(value=5)
    """
    if not isinstance(spec, dict):
        if isinstance(spec, bool) or not isinstance(spec, int | float | str):
            raise SettingsError(f"{where} must be a value or a {{distribution = ...}} table")
        if numeric and isinstance(spec, str):
            raise SettingsError(f"{where} must be a number, got {spec!r}")
        return Fixed(spec)
    kind = spec.get("distribution")
    expected = {
        "uniform": {"distribution", "low", "high"},
        "log-uniform": {"distribution", "low", "high"},
        "integer": {"distribution", "low", "high"},
        "choice": {"distribution", "values", "weights"},
    }
    if kind not in expected:
        raise SettingsError(f"{where}.distribution must be one of {', '.join(expected)}, got {kind!r}")
    unknown = set(spec) - expected[kind]
    if unknown:
        raise SettingsError(f"{where}: unknown key {sorted(unknown)[0]!r} for a {kind} distribution")
    if kind == "choice":
        return _parse_choice(where, spec, numeric=numeric)
    low, high = spec.get("low"), spec.get("high")
    number = int if kind == "integer" else (int, float)
    for name, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, number):
            raise SettingsError(f"{where}.{name} must be {'a whole number' if kind == 'integer' else 'a number'}")
    assert low is not None and high is not None
    if low > high:
        raise SettingsError(f"{where}: low ({low}) is above high ({high})")
    if kind == "integer":
        return Integer(int(low), int(high))
    if kind == "log-uniform":
        if low <= 0:
            raise SettingsError(f"{where}: a log-uniform distribution needs low > 0, got {low}")
        return LogUniform(float(low), float(high))
    return Uniform(float(low), float(high))


def _parse_choice(where: str, spec: dict[str, Any], *, numeric: bool) -> Choice:
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        raise SettingsError(f"{where}.values must be a non-empty list")
    for value in values:
        ok = isinstance(value, int | float) and not isinstance(value, bool) if numeric else isinstance(value, str)
        if not ok:
            raise SettingsError(f"{where}.values must all be {'numbers' if numeric else 'strings'}, got {value!r}")
    weights = spec.get("weights", [1.0] * len(values))
    if (
        not isinstance(weights, list)
        or len(weights) != len(values)
        or any(isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in weights)
        or sum(weights) <= 0
    ):
        raise SettingsError(f"{where}.weights must be {len(values)} non-negative numbers, not all zero")
    return Choice(tuple(values), tuple(float(w) for w in weights))
