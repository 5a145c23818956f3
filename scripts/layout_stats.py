"""The package's shape in figures: files, top-level entries, the largest modules and functions, and the
imports inside functions (``tests/test_architecture.py`` holds the limits; this prints where things stand).

    python scripts/layout_stats.py [outreach]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def main(package: Path) -> None:
    files = [p for p in package.rglob("*.py") if "migrations" not in p.parts]
    top = [p for p in package.iterdir() if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())]
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), p) for p in files), reverse=True)
    functions: list[tuple[int, str]] = []
    inner_imports = 0
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append(((node.end_lineno or node.lineno) - node.lineno + 1, f"{path.name}:{node.name}"))
                inner_imports += sum(isinstance(sub, ast.Import | ast.ImportFrom) for sub in ast.walk(node))
    functions.sort(reverse=True)
    print(f"python files: {len(files)}; top-level entries (modules + packages): {len(top)}")
    largest = ", ".join(f"{p.relative_to(package.parent)} {n}" for n, p in sizes[:5])
    print(f"files over 800 lines: {sum(n > 800 for n, _ in sizes)}; largest: {largest}")
    longest = ", ".join(f"{name} {n}" for n, name in functions[:5])
    print(f"functions over 80 lines: {sum(n > 80 for n, _ in functions)}; longest: {longest}")
    print(f"imports inside functions: {inner_imports}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "outreach"))
