"""The clips a video command reads and the outputs it writes: clips from the command line (files, frame folders,
patterns, globs, folders of videos), their output paths, and what each reads and writes for the path checks.
No heavy imports."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from refocus_cli.commands.inputs import check_outputs
from refocus_cli.errors import InputError, OutputError, SettingsError
from refocus_cli.io.formats import VIDEO_SUFFIXES
from refocus_cli.io.run_paths import RunPaths

OWN_SUFFIX = "-refocused"
"""What `default_output` adds to a clip's name."""


def expand_clips(items: list[Path]) -> tuple[list[Path], list[str]]:
    """Each clip named: a video file, a frame pattern, a folder of frames (one clip), a folder holding videos
    (each one a clip, sorted, without this tool's earlier outputs beside them: `<stem>-refocused.<ext>`), or a
    glob the shell left alone. A name that matches nothing stays, so reading it reports 'no such file'. Returns
    the clips and a note per folder that left outputs out."""
    clips: list[Path] = []
    notes: list[str] = []
    for item in items:
        if item.is_dir():
            videos = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            stems = {video.stem for video in videos}
            own = [v for v in videos if v.stem.endswith(OWN_SUFFIX) and v.stem[: -len(OWN_SUFFIX)] in stems]
            if own:
                notes.append(
                    f"{item}: left out {len(own)} clip{'' if len(own) == 1 else 's'} this tool wrote "
                    f"({', '.join(v.name for v in own[:3])}{' ...' if len(own) > 3 else ''}); name a file to use it"
                )
            clips.extend([v for v in videos if v not in own] or [item])
        elif "%" not in item.name and not item.exists() and glob.has_magic(str(item)):
            matches = sorted(Path(p) for p in glob.glob(str(item)))
            if not matches:
                raise InputError(item, "no file matches this pattern")
            clips.extend(matches)
        else:
            clips.append(item)
    return list(dict.fromkeys(clips)), notes


def plan_clip_outputs(clips: list[Path], output: Path | None, out_dir: Path | None) -> list[Path]:
    """One output per clip: -o (one clip), else out_dir/<default name>, else beside the clip."""
    if output is not None and out_dir is not None:
        raise SettingsError("give -o or --out-dir, not both")
    if output is not None and len(clips) > 1:
        raise SettingsError(f"-o names one output but {len(clips)} clips were given; use --out-dir")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "is not a folder")
    outs = [output or default_output(clip) for clip in clips]
    if out_dir is not None:
        outs = [out_dir / (out.relative_to(out.parent.parent) if "%" in out.name else out.name) for out in outs]
    check_outputs(clips, outs)
    return outs


def check_skippable(outs: list[Path]) -> None:
    """--skip-existing needs outputs written whole: a video file, not a folder of frames written one by one."""
    for out in outs:
        if not frames_output(out):
            continue
        raise SettingsError(
            f"--skip-existing: {out} is a folder of frames, written frame by frame; use --resume to finish it"
        )


def frames_output(out: Path) -> bool:
    """`out` names a folder of frames (a pattern's folder, a folder, or a name without a suffix)."""
    return "%" in out.name or out.is_dir() or str(out).endswith(("/", os.sep)) or not out.suffix


def read_roots(clip: Path | None) -> list[Path]:
    """What a task reading `clip` reads, for shipping it: the file, or the folder of frames."""
    if clip is None:
        return []
    return [clip.parent] if "%" in clip.name else [clip]


def default_output(clip: Path) -> Path:
    """<stem>-refocused<suffix> beside a video; <folder>-refocused/ beside an image sequence."""
    if clip.suffix.lower() in VIDEO_SUFFIXES:
        return clip.with_name(f"{clip.stem}{OWN_SUFFIX}{clip.suffix}")
    if "%" in clip.name:
        folder = clip.parent
        return folder.with_name(f"{folder.name}-refocused") / clip.name
    return clip.with_name(f"{clip.name}-refocused")


def clip_paths(clip: Path | None) -> RunPaths:
    """What reading a clip reads: a video file, or the folder of an image sequence (a folder or a pattern)."""
    if clip is None:
        return RunPaths()
    if "%" in clip.name:
        return RunPaths(read_folders=(clip.parent,))
    if clip.is_dir():
        return RunPaths(read_folders=(clip,))
    return RunPaths(reads=(clip,))


def output_paths(out: Path) -> RunPaths:
    """What writing `out` writes: a video file, or a folder of frames (a pattern's folder, a folder, or a name
    without a suffix, as the writer takes them)."""
    if "%" in out.name:
        return RunPaths(fill_folders=(out.parent,))
    if frames_output(out):
        return RunPaths(fill_folders=(out,))
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(
            out,
            f"unknown video format '{out.suffix}' (use {', '.join(VIDEO_SUFFIXES)}, or a folder or a pattern like "
            "frames/%05d.png for frames)",
        )
    return RunPaths(writes=(out,))
