"""Typer's rich help and error boxes without rich.markdown, rich.traceback and what they pull in.

`typer.rich_utils`, which draws every help page and usage-error box, imports `rich.markdown` (markdown-it,
pygments) and `rich.traceback` (pygments again, attrs) at module level. They serve the "markdown" markup mode and
pretty tracebacks, neither of which `refocus` uses (`rich_markup_mode="rich"`, `pretty_exceptions_enable=False`),
and cost more than the rest of the help put together.

`install()` puts a finder on `sys.meta_path` that, the first time anything imports `typer.rich_utils`, lends it
a stand-in for each of those two modules while it runs. A stand-in holds a stand-in class (`Markdown`,
`Traceback`) that imports the real module the first time it is called or asked for an attribute, so nothing
behaves differently: it is only later. The stand-in modules leave `sys.modules` as soon as `typer.rich_utils`
has run, so any other `import rich.markdown` gets the real one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

TARGET = "typer.rich_utils"
DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
"""Module -> the one class `typer.rich_utils` takes from it."""


class DeferredClass(type):
    """The type of a stand-in class: a call or an attribute (a classmethod such as `from_exception`) goes to the
    real class, imported on first use. Being a type, it still takes part in `Markdown | Text` annotations."""

    module_name: str

    def real(cls) -> Any:
        return getattr(importlib.import_module(cls.module_name), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)


def stand_in(module_name: str, class_name: str) -> ModuleType:
    """A module named `module_name` whose only attribute is a deferred `class_name`."""
    module = ModuleType(module_name, f"Stand-in for {module_name} while {TARGET} is imported.")
    setattr(module, class_name, DeferredClass(class_name, (), {"module_name": module_name}))
    return module


class LendingLoader(importlib.abc.Loader):
    """Runs `typer.rich_utils` with the stand-ins in `sys.modules`, then takes them back."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        lent = {name: stand_in(name, cls) for name, cls in DEFERRED.items() if name not in sys.modules}
        sys.modules.update(lent)
        try:
            self.loader.exec_module(module)
        finally:
            for name, stand in lent.items():
                if sys.modules.get(name) is stand:
                    del sys.modules[name]

    def __getattr__(self, name: str) -> Any:  # get_source and friends, for tracebacks through the module
        return getattr(self.loader, name)


class LightRichUtils(importlib.abc.MetaPathFinder):
    """Finds `typer.rich_utils` where it always is and hands it to a LendingLoader; nothing else."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = LendingLoader(spec.loader)
        return spec


def install() -> None:
    """Put the finder first on `sys.meta_path` (once; a no-op once `typer.rich_utils` is loaded)."""
    if TARGET in sys.modules or any(isinstance(finder, LightRichUtils) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, LightRichUtils())
