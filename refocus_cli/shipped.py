"""Files that ship with refocus but are not Python: the bundled models (`models/`) and the shell completion
scripts (`completions/`).

In a checkout they sit at the project's root; the wheel carries them as package data under
`refocus_cli/_data/` (setup.py copies `SHIPPED_FOLDERS` there). `shipped_path` finds one in either place, so an
installed wheel needs no checkout and an editable install needs no copy.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
"""Where a wheel puts the shipped folders (absent in a checkout)."""
PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""A checkout's root, which holds `models/` and `completions/` (in an installed wheel: site-packages)."""
SHIPPED_FOLDERS = ("models", "completions")
"""The folders of the project's root that the wheel carries (setup.py names the same)."""


def shipped_path(relative: str | Path) -> Path:
    """Where a shipped file or folder is: in the package's data when it is there (an installed wheel), else in
    the checkout (it may be missing from both; the caller says so).

    Args:
        relative: a path from the project's root, inside one of `SHIPPED_FOLDERS` ("models/refocus-small").

    >>> shipped_path("completions/refocus.bash").name
    'refocus.bash'
    """
    packaged = PACKAGE_DATA / relative
    return packaged if packaged.exists() else PROJECT_ROOT / relative


def shown_path(path: Path) -> str:
    """A shipped path as listed: relative to the package's data or the project's root when inside either
    ("models/refocus-small"), else as it is."""
    for root in (PACKAGE_DATA, PROJECT_ROOT):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)
