"""The package's shape, kept by tests: no import cycle (imports inside functions included), no module over
~800 lines, no function over ~80 lines, no ``importlib`` to reach our own modules, no bare ``Any`` in a
public signature, and every ``type: ignore`` with its reason.

Everything is read from the source with :mod:`ast`; nothing is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "outreach"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
# Modules allowed past MAX_MODULE_LINES, with the reason (data tables only).
LONG_MODULES: dict[str, str] = {}
# Functions allowed past MAX_FUNCTION_LINES ("module:function"), with the reason.
LONG_FUNCTIONS: dict[str, str] = {}
# Modules whose public signatures may take or return a bare ``Any``: where they meet a library whose
# objects have no types (or whose methods they override with the library's own signatures).
ANY_SEAMS: dict[str, str] = {
    "outreach.campaign.render": "overrides of jinja2's sandbox methods keep jinja2's signatures",
    "outreach.cli": "click.Group.invoke's signature",
    "outreach.signals.pipeline": "spaCy's Language, Doc and Span have no type stubs",
    "outreach.signals.components": "spaCy's Language, Doc and Span have no type stubs",
    "outreach.signals.tokenizer": "spaCy's Language, Doc and Tokenizer have no type stubs",
    "outreach.store.bulk": "SQLAlchemy's type and dialect internals",
}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue  # alembic's generated revisions
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


MODULES = dict(_modules())


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The package modules an ``from … import …`` reaches (a name may be a submodule)."""
    if node.level:
        base = module.split(".")
        if MODULES[module].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = []
    for alias in node.names:
        candidate = f"{target}.{alias.name}"
        if candidate in MODULES:
            found.append(candidate)
        elif target in MODULES:
            found.append(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, at module level or inside functions alike (a parent
    package's ``__init__`` that runs first is not counted: it re-exports, it is not a dependency)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in MODULES)
            elif isinstance(node, ast.ImportFrom):
                edges.update(_resolve(module, node))
        edges.discard(module)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


def test_modules_are_short() -> None:
    long = {
        module: n
        for module, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES and module not in LONG_MODULES
    }
    assert long == {}


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_functions_are_short() -> None:
    long = {}
    for module, path in MODULES.items():
        for node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            key = f"{module}:{node.name}"
            if size > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                long[key] = size
    assert long == {}


# Modules that reach one of ours through importlib, with the reason (the layout issue empties this).
IMPORTLIB_USERS = {
    "outreach.lint.registry": "finds the rule files (pkgutil over outreach.lint.rules): a new rule is a new file",
}


def test_no_importlib_to_reach_our_own_modules() -> None:
    offenders = []
    for module, path in MODULES.items():
        if module in IMPORTLIB_USERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module",
                "__import__",
            ):
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                if any(isinstance(a, str) and a.startswith("outreach") for a in args) or not args:
                    offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


def _is_bare_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and annotation.value == "Any":
        return True
    return isinstance(annotation, ast.Name) and annotation.id == "Any"


def test_public_signatures_have_no_bare_any() -> None:
    """``campaign: Any`` at a seam hides which type crosses it (and let a duck-typed fake stand in for the
    real campaign in the tests while the real one was broken)."""
    offenders = []
    for module, path in MODULES.items():
        if module in ANY_SEAMS:
            continue
        for node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            if node.name.startswith("_") and not node.name.startswith("__"):
                continue
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            bare = [a.arg for a in args if _is_bare_any(a.annotation)]
            if _is_bare_any(node.returns):
                bare.append("return")
            if bare:
                offenders.append(f"{module}:{node.name}({', '.join(bare)})")
    assert offenders == []


_IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(.*)$")


def test_every_type_ignore_has_a_reason() -> None:
    bare = []
    for module, path in MODULES.items():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _IGNORE.search(line)
            if match and not match.group(1):
                bare.append(f"{module}:{number}: no error code")
            elif match and not re.search(r"#\s*\w", match.group(2)):
                bare.append(f"{module}:{number}: no reason after the ignore")
    assert bare == []


@pytest.mark.parametrize("module", ["outreach.mail.imap"])
def test_only_the_imap_module_imports_imapclient(module: str) -> None:
    users = [
        name
        for name, path in MODULES.items()
        if re.search(r"^\s*(import imapclient|from imapclient\b)", path.read_text(encoding="utf-8"), re.M)
    ]
    assert users == [module]
