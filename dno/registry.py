"""Extension points: a name → implementation table per kind (judges, tasks, losses).

Each built-in lives in its own module of the kind's package and registers itself with a decorator:

    @JUDGES.register("my_judge")
    class MyJudge(Judge): ...

The package's modules are imported the first time the registry is read, so adding one is one new file;
code outside the package registers the same way once it is imported. The config's allowed values for
`judge.type`, `data.tasks` and `train.loss` are the registries' names.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, TypeVar

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
