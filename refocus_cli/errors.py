"""One error hierarchy for everything a user can cause.

Every `RefocusError` carries a message fit to print on one line; the CLI turns it into that line and an exit
code (`REFOCUS_DEBUG=1` re-raises it for a traceback).
"""

from __future__ import annotations

from pathlib import Path


class RefocusError(Exception):
    """A problem the user can act on; `str(error)` is one line."""

    exit_code = 1


class InputError(RefocusError):
    """An input file is missing, unreadable, corrupt or of the wrong kind."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def missing_or_unreadable(path: Path | str, error: OSError) -> InputError | None:
    """The InputError for a file that is absent, a folder or not readable; None for other OS errors."""
    if isinstance(error, FileNotFoundError):
        return InputError(path, "no such file")
    if isinstance(error, IsADirectoryError):
        return InputError(path, "is a folder")
    if isinstance(error, PermissionError):
        return InputError(path, "permission denied")
    return None


class StackInputError(RefocusError):
    """One or more frames of a stack are bad; the message holds one line per frame (the CLI prints each as
    an error of its own)."""

    def __init__(self, problems: list[InputError]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class SettingsError(RefocusError):
    """An option value or combination of options is invalid."""


class OutputError(RefocusError):
    """An output cannot be written (it exists, it would overwrite an input, its folder is missing)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DepthUnavailableError(RefocusError):
    """No depth source could answer for an image."""


class ModelUnavailableError(RefocusError):
    """A learned model's weights are not on this machine (or cannot be loaded)."""


class ResourceError(RefocusError):
    """A job would need more memory than its budget (REFOCUS_MEMORY_GB); refused before any pixel work."""


def one_line(error: BaseException, limit: int = 160) -> str:
    """The first non-empty line of an error message, shortened; the error's type when it has no message.

    >>> one_line(ValueError("bad\\nmore")), one_line(KeyError())
    ('bad', 'KeyError')
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
