"""The package's shape: no import cycle inside dno/, the run layer (dno.run, dno.stages) imported only from
itself and the CLI, and no module longer than MAX_LINES. Read from the source with `ast`, so imports inside
functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dno"
MAX_LINES = 450
RUN_LAYER = ("dno.run", "dno.stages")
RUN_LAYER_USERS = ("dno.run", "dno.stages", "dno.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The dno modules `name` imports anywhere in its source: `import dno.x`, `from dno.x import y` (y a module
    or a name in dno.x), relative imports resolved against the package."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "dno"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "dno":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in known else source)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `g` (a list of modules, the first repeated at the end), or None: a depth-first search
    that meets a module still on its stack has found one."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_graph_sees_every_module_and_known_edges():
    g = graph()
    assert {"dno.cli", "dno.config", "dno.run.loop", "dno.stages", "dno.training.losses.dpo"} <= set(g)
    assert "dno.run.rundir" in g["dno.run.loop"]  # from dno.run.rundir import RunDir
    assert "dno.stages" in g["dno.run.loop"]  # from dno import stages
    assert "dno.judges" in g["dno.config"]  # inside a function: from dno.judges import JUDGES
    assert "dno.tasks.base" in g["dno.tasks.arithmetic"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_no_import_cycle_inside_dno():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_only_the_run_layer_and_the_cli_import_the_run_layer():
    bad = sorted(
        f"{m} imports {n}"
        for m, deps in graph().items()
        for n in deps
        if within(n, RUN_LAYER) and not within(m, RUN_LAYER_USERS)
    )
    assert not bad, "; ".join(bad)


def test_every_module_is_at_most_450_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, ", ".join(f"{m} has {n} lines" for m, n in sorted(long.items()))
