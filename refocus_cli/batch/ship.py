"""Tasks for workers that do not share this machine's files (a Ray cluster): the inputs travel with the task, the
job runs on copies in a private folder, and the outputs come back as bytes for the driver to write atomically.

Paths are swapped, never rewritten by hand: the request's paths that name an input (or lie under an input
folder, as a frames/%05d.png pattern does) point at the copies, its output paths into the private folder with
the same names, and the result's paths and messages are swapped back, so a record, a note or an error reads
as if the job had run here. The bytes written are the same: the job sees the same names and the same content.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refocus_cli.batch.task import BatchTask, TaskOutcome, run_task
from refocus_cli.errors import InputError

INPUTS, OUTPUTS = "in", "out"


@dataclass(frozen=True)
class ShippedTask:
    """A task with its inputs' bytes: each read path's files, (read index, path relative to it, bytes); a
    read that is a file has the relative path ''."""

    task: BatchTask
    files: tuple[tuple[int, str, bytes], ...]


def pack(task: BatchTask) -> ShippedTask:
    """Read the task's inputs here (a folder whole, not recursing: an image sequence); an input that cannot be
    read makes the task fail with its one line, without running."""
    try:
        return ShippedTask(task, _read_inputs(task))
    except InputError as error:
        return ShippedTask(dataclasses.replace(task, request=None, problem=str(error)), ())


def _read_inputs(task: BatchTask) -> tuple[tuple[int, str, bytes], ...]:
    """Every read path's files, or InputError naming the one that cannot be read."""
    files: list[tuple[int, str, bytes]] = []
    if task.problem is None:
        for index, path in enumerate(task.reads):
            try:
                if path.is_dir():
                    names = sorted(entry.name for entry in os.scandir(path) if entry.is_file())
                    files += [(index, name, (path / name).read_bytes()) for name in names]
                else:
                    files.append((index, "", path.read_bytes()))
            except OSError as error:
                raise InputError(path, f"cannot be read ({error.strerror or error})") from None
    return tuple(files)


def run_shipped(shipped: ShippedTask) -> TaskOutcome:
    """Run a shipped task in a private folder and bring back what it wrote (the runner's task function)."""
    task = shipped.task
    if task.problem is not None:
        return run_task(task)
    with tempfile.TemporaryDirectory(prefix="refocus-task-") as folder:
        private = Path(folder)
        here_to_there = _private_paths(task, private)
        for index, relative, data in shipped.files:
            target = here_to_there[task.reads[index]] / relative if relative else here_to_there[task.reads[index]]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path in here_to_there.values():
            (path if path.is_relative_to(private / OUTPUTS) else path.parent).mkdir(parents=True, exist_ok=True)
        request = swap_paths(task.request, here_to_there, in_text=False)
        outcome = run_task(dataclasses.replace(task, request=request))
        there_to_here = {there: here for here, there in here_to_there.items()}
        files = _written(private / OUTPUTS) if outcome.error is None else ()
        return dataclasses.replace(
            outcome,
            result=swap_paths(outcome.result, there_to_here),
            error=None if outcome.error is None else swap_paths(outcome.error, there_to_here),
            files=files,
        )


def _output_folders(task: BatchTask) -> list[Path]:
    """The folders the task writes into, in a fixed order."""
    return list(dict.fromkeys(path.parent for path in task.outputs))


def _private_paths(task: BatchTask, private: Path) -> dict[Path, Path]:
    """Each read path -> its copy, each output folder -> its private folder (names kept)."""
    paths = {path: private / INPUTS / str(index) / (path.name or "input") for index, path in enumerate(task.reads)}
    for index, folder in enumerate(_output_folders(task)):
        paths.setdefault(folder, private / OUTPUTS / str(index))
    return paths


def _written(root: Path) -> tuple[tuple[str, bytes], ...]:
    """Every file under root/<folder index>/, as ('<index>/<relative path>', bytes)."""
    return tuple(
        (path.relative_to(root).as_posix(), path.read_bytes()) for path in sorted(root.rglob("*")) if path.is_file()
    )


def write_back(task: BatchTask, files: tuple[tuple[str, bytes], ...], *, overwrite: bool) -> None:
    """Write a shipped task's outputs here: each file atomically, each folder (a stack's frames) whole.

    Raises:
        OutputError: a target exists without `overwrite`, or cannot be written.
    """
    from refocus_cli.io.atomic import atomic_folder, atomic_output

    folders = _output_folders(task)
    grouped: dict[Path, list[tuple[str, bytes]]] = {}
    for name, data in files:
        index, relative = name.split("/", 1)
        top, _, rest = relative.partition("/")
        target = folders[int(index)] / top
        if rest:
            grouped.setdefault(target, []).append((rest, data))
            continue
        with atomic_output(target, overwrite=overwrite) as temporary:
            temporary.write_bytes(data)
    for folder, members in grouped.items():
        with atomic_folder(folder, overwrite=overwrite) as temporary:
            for relative, data in members:
                (temporary / relative).parent.mkdir(parents=True, exist_ok=True)
                (temporary / relative).write_bytes(data)


def swap_paths(value: Any, swaps: dict[Path, Path], *, in_text: bool = True) -> Any:
    """`value` with every path that is, or lies under, a key of `swaps` moved to its value, in dataclasses,
    tuples, lists and dicts; with `in_text`, the keys' spellings are replaced in text too (a message naming a
    private file: keys that are private folders, whose names occur nowhere else)."""
    if isinstance(value, Path):
        return _swap_path(value, swaps)
    if isinstance(value, str) and in_text:
        for old, new in sorted(swaps.items(), key=lambda pair: -len(str(pair[0]))):
            if str(old) not in ("", "."):
                value = value.replace(str(old), str(new))
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: swap_paths(getattr(value, field.name), swaps, in_text=in_text)
            for field in dataclasses.fields(value)
            if field.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple | list):
        return type(value)(swap_paths(item, swaps, in_text=in_text) for item in value)
    if isinstance(value, dict):
        return {key: swap_paths(item, swaps, in_text=in_text) for key, item in value.items()}
    return value


def _swap_path(path: Path, swaps: dict[Path, Path]) -> Path:
    """The path itself when it is a key; else under the deepest key that is one of its folders; else as is."""
    if path in swaps:
        return swaps[path]
    for root in sorted(swaps, key=lambda key: -len(key.parts)):
        if root in path.parents:
            return swaps[root] / path.relative_to(root)
    return path
