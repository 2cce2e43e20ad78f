"""The layout holds: no import cycles, each room imports only what its docstring allows,
every package ships, and installing Provenant claims no top-level name but `provenance`.

The import graph is read from the source (every `import` statement, at module level, in
functions and under `TYPE_CHECKING` alike), so a cycle hidden in a function body fails here
too.  The rooms' rules are not repeated in this file: each room's `__init__.py` docstring
carries a `May import: ...` sentence, and that sentence is what is enforced.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Repository folder -> the import name it installs as.
ROOTS = {
    "provenance": "provenance",
    "generators": "provenance.generators",
    "policies": "provenance.policies",
    "migrations": "provenance.migrations",
}
ROOMS = (
    "kernel",
    "credentials",
    "ledger",
    "verify",
    "pipeline",
    "audit",
    "serve",
    "softbinding",
    "cli",
    "demo",
    "generators",
    "policies",
    "migrations",
)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for folder, prefix in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if folder == "provenance" and parts[0] in ROOTS:
                continue
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            found[name] = Module(name, path, is_package)
    return found


MODULES = _modules()


def _installed_name(name: str) -> str:
    """`policies.x` as written in old code still means `provenance.policies.x`."""
    for folder, prefix in ROOTS.items():
        if folder != prefix and (name == folder or name.startswith(folder + ".")):
            return prefix + name[len(folder) :]
    return name


def _known(name: str) -> str | None:
    """The longest project module that `name` names (a symbol's module, or itself)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: Module) -> dict[str, int]:
    """Project modules that `module` imports anywhere in its body -> first line."""
    out: dict[str, int] = {}
    for node in ast.walk(ast.parse(module.path.read_text("utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _installed_name(_absolute(module, node))
            # `from pkg import sub` imports the submodule; `from pkg import name` the package
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for target in targets:
            known = _known(_installed_name(target))
            if known and known != module.name:
                out.setdefault(known, node.lineno)
    return out


GRAPH = {name: _imports(module) for name, module in MODULES.items()}


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(component: list[str]) -> str:
    members = set(component)
    links = [
        f"{src}:{line} -> {dst}"
        for src in component
        for dst, line in sorted(GRAPH[src].items())
        if dst in members
    ]
    return "cycle " + " <-> ".join(component) + "\n    " + "\n    ".join(links)


def test_the_graph_sees_the_packages_and_their_imports() -> None:
    assert {"provenance.ledger.repository", "provenance.policies.known_works.policy"} <= set(
        MODULES
    )
    assert "provenance.ledger.chain" in GRAPH["provenance.ledger.repository"]


def test_the_cycle_finder_finds_a_function_level_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "\n".join(_describe(c) for c in cycles)


def room_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "kernel"


def _room_init(room: str) -> Path:
    if room == "kernel":
        return REPO / "provenance" / "__init__.py"
    folder = room if room in ROOTS else f"provenance/{room}"
    return REPO / folder / "__init__.py"


_RULE = re.compile(r"May import:(.*?)\.(?:\s|$)", re.S)


def allowed_imports(room: str) -> tuple[set[str], set[str]]:
    """(rooms, module prefixes) that the room's `May import:` sentence names."""
    doc = ast.get_docstring(ast.parse(_room_init(room).read_text("utf-8"))) or ""
    match = _RULE.search(doc)
    assert match, f"{_room_init(room)}: the docstring has no 'May import: ...' sentence"
    text = match.group(1)
    modules = set(re.findall(r"`(provenance\.[\w.]+)`", text))
    words = set(re.findall(r"\b(\w+)\b", re.sub(r"`[^`]*`|\([^)]*\)", " ", text)))
    return {w for w in words if w in ROOMS} | {room}, modules


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_imports_only_what_its_docstring_allows(room: str) -> None:
    rooms, modules = allowed_imports(room)
    wrong = [
        f"{src}:{line} imports {dst} (room {room_of(dst)})"
        for src in sorted(GRAPH)
        if room_of(src) == room
        for dst, line in sorted(GRAPH[src].items())
        if room_of(dst) not in rooms
        and not any(dst == m or dst.startswith(m + ".") for m in modules)
    ]
    assert not wrong, f"{room} may import {sorted(rooms | modules)}:\n" + "\n".join(wrong)


def test_the_rule_parser_reads_modules_and_rooms() -> None:
    rooms, modules = allowed_imports("audit")
    assert rooms == {"kernel", "audit", "ledger", "verify"}
    assert modules == {"provenance.serve.templating"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def test_every_package_directory_is_listed_for_the_wheel() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    packages = {m.name for m in MODULES.values() if m.is_package}
    assert packages - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - packages == set(), "[tool.setuptools] packages names no package"


def test_package_dir_maps_each_repository_folder_under_provenance() -> None:
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    assert mapping == {v: k for k, v in ROOTS.items() if k != v}


def test_the_wheel_claims_only_the_provenance_import_name(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources and read its top-level names."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ROOTS:
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("provenant-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"provenance"}
    shipped = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("__init__.py")}
    assert shipped == {m.name for m in MODULES.values() if m.is_package}


def test_the_architecture_page_names_only_modules_that_exist() -> None:
    text = (REPO / "docs" / "architecture.md").read_text("utf-8")
    named = set(re.findall(r"\bprovenance(?:\.\w+)+", text))
    assert len(named) > 20
    missing = []
    for name in sorted(named):
        module = _known(name)
        # a module, or a name defined in the nearest module (a class, function, constant)
        if module is None or (module != name and name.split(".")[-1] not in _defined(module)):
            missing.append(name)
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"
    for path in re.findall(r"`((?:tests|docs)/[\w/]+\.\w+)`", text):
        assert (REPO / path).exists(), path


def _defined(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].path.read_text("utf-8"))
    names = {m.name.rpartition(".")[2] for m in MODULES.values() if m.name.startswith(module + ".")}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names
