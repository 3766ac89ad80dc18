"""The shape of ``qa``: Streamlit is imported by ``qa.page`` alone, and no module imports itself back in a circle.

Both are read from the source (imports inside functions count), and the first is also checked by
importing every module in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "qa"
STREAMLIT_MODULE = "qa.page"
NOT_IMPORTABLE = {"qa.__main__"}  # runs the command line


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything a module imports, at the top or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # ``from . import x``
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_page_module_imports_streamlit_in_the_source():
    offenders = {name for name, path in MODULES.items()
                 if name != STREAMLIT_MODULE and any(i.split(".")[0] == "streamlit" for i in _imports(path))}
    assert not offenders, f"only {STREAMLIT_MODULE} may import streamlit; also: {sorted(offenders)}"


def test_importing_every_other_module_leaves_streamlit_unloaded():
    names = sorted(set(MODULES) - {STREAMLIT_MODULE} - NOT_IMPORTABLE)
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_no_import_circles_in_the_package():
    graph = {name: {i for i in _imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}

    def reaches(start: str, goal: str) -> list[str] | None:
        """A path of imports from ``start`` to ``goal``, if there is one."""
        seen, stack = set(), [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == goal:
                    return trail + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    circles = [" → ".join(trail) for name in graph if (trail := reaches(name, name))]
    assert not circles, circles
