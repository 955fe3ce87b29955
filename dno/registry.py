"""Extension points: a name → implementation table per kind (judges, tasks, losses).

Each built-in lives in its own module of the kind's package and registers itself with a decorator:

    @JUDGES.register("my_judge")
    class MyJudge(Judge): ...

The package's modules are imported the first time the registry is read, so adding one is one new file;
code outside the package registers the same way once it is imported: list its module or .py file in the
config's `plugins`. The config's allowed values for `judge.type`, `data.tasks` and `train.loss` are the
registries' names.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

from dno.errors import DnoError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind, self.package = kind, package
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            pkg = importlib.import_module(self.package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{self.package}.{mod.name}")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def get(self, name: str, field: str) -> T:
        """The implementation called `name`, or a DnoError naming the config field and the known names."""
        self._load()
        if name not in self._items:
            raise DnoError(f"config: `{field}` {name!r} is not a known {self.kind} (known: {', '.join(self.names())})")
        return self._items[name]

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._items.items())


def import_module_or_file(spec: str, field: str) -> ModuleType:
    """A module by dotted name, or a `.py` file by path; a file is executed once per process (so the
    registrations it makes happen once). Errors are DnoErrors naming `field`."""
    if not spec.endswith(".py"):
        try:
            return importlib.import_module(spec)
        except ImportError as e:
            raise DnoError(f"config: `{field}`: cannot import {spec!r} ({e})") from None
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise DnoError(f"config: `{field}`: {spec} not found")
    name = f"dno_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise DnoError(f"config: `{field}`: {spec} failed to import ({type(e).__name__}: {e})") from None
    return module
