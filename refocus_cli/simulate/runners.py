"""The scene task that `refocus.pool`'s runners run: this process, local worker processes, or a Ray cluster.

Workers send bytes back to the caller, so Ray workers need no shared file system, and a killed worker leaves
nothing; the caller writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from refocus_cli.errors import RefocusError
from refocus_cli.simulate.scene import SceneFiles, simulate_scene
from refocus_cli.simulate.settings import SimulationSettings
from refocus_cli.simulate.sources import SceneSpec


@dataclass(frozen=True)
class SceneOutcome:
    """A finished task: the scene's files, or the one-line error that stopped it (a bad photo, say)."""

    spec: SceneSpec
    files: SceneFiles | None = None
    error: str | None = None


@dataclass(frozen=True)
class SceneTask:
    """What every scene of a run shares; called with one scene (picklable, for worker processes and Ray)."""

    settings: SimulationSettings
    device: str

    def __call__(self, spec: SceneSpec) -> SceneOutcome:
        """One scene; a user-facing error becomes the outcome's message instead of an exception (exceptions
        with extra arguments do not cross process boundaries intact)."""
        try:
            return SceneOutcome(spec, files=simulate_scene(spec, self.settings, device=self.device))
        except RefocusError as error:
            return SceneOutcome(spec, error=str(error))
