"""The wheel carries the project's non-Python files as package data: `models/` (the bundled refocus-small
checkpoint) and `completions/` (the static shell scripts) are copied to `refocus_cli/_data/`, where
`refocus_cli.shipped` looks first. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_FOLDERS = ("models", "completions")  # refocus_cli/shipped.py names the same
ROOT = Path(__file__).resolve().parent


class BuildWithShippedData(build_py):
    """build_py, then the shipped folders into the build's `refocus_cli/_data/` (not for an editable install,
    which finds them in the checkout)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for folder in SHIPPED_FOLDERS:
            target = Path(self.build_lib) / "refocus_cli" / "_data" / folder
            shutil.rmtree(target, ignore_errors=True)  # nothing stale from an earlier build
            shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))


setup(cmdclass={"build_py": BuildWithShippedData})
