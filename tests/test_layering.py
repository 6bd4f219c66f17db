"""The layering rule of docs/architecture.md, checked on the source: which package may
import which, and no import cycle between modules of different packages."""

from __future__ import annotations

import ast
from pathlib import Path

import macroserver

SOURCE = Path(macroserver.__file__).parent

#: Packages (or root modules) from the bottom up; each may import only its own layer and below.
LAYERS: list[set[str]] = [
    {"errors", "records", "streams", "formatting", "plugins", "datafiles", "untrusted", "env",
     "shmreader",
     "statedir",
     "logs", "metadata", "filelocks", "wire",
     "strictjson", "packets", "scanstats"},
    {"elements", "config"},
    {"recorders"},
    {"convert"},
    {"engine"},
    {"macros"},
    {"sardana_api"},
    {"tango"},
    {"cli", "web", "__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """The macroserver modules `path` imports at run time, and those imported only for
    type checking (under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(), str(path))
    type_only_nodes = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    runtime, type_only = set(), set()
    for node in ast.walk(tree):
        names = set()
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        (type_only if id(node) in type_only_nodes else runtime).update(names & known)
    return runtime, type_only


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    """Module -> modules it imports; imports for type checking only count when they
    cross into another package (inside one package they are harmless annotations)."""
    paths = {module_name(p): p for p in SOURCE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        runtime, type_only = imported_modules(path, set(paths))
        crossing = {t for t in type_only if package_of(t) != package_of(name)}
        graph[name] = (runtime | crossing) - {name}
    return graph


def layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package {package!r} is in no layer of LAYERS: add it")


def test_every_package_imports_only_its_layer_and_below():
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if package_of(module) != "macroserver" and package_of(target) != "macroserver"
        and layer_of(package_of(target)) > layer_of(package_of(module))
    ]
    assert wrong == []


def test_no_import_cycle():
    graph = import_graph()
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for target in graph[node]:
                if target == start:
                    cycles.append(" -> ".join([*path, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert cycles == []
