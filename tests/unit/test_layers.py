"""The layering of docs/architecture.md, read from the source with ast: who may import whom.

Every import counts, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "splade_demo"
# The bottom modules every layer may use: load-once, file replacement that Windows tolerates, checksums, and the
# device and precision from torch's capability checks.
BASE = {"once", "files", "integrity", "compute"}
# Each layer of splade_demo and the layers it may import (besides itself). Lower layers never import higher ones.
ALLOWED: dict[str, set[str]] = {
    "once": set(),
    "config": {"compute"},
    "compute": set(),
    "files": set(),
    "integrity": set(),
    "data": {"config", *BASE},
    "models": {"config", *BASE},
    "retrieval": {"config", "data", "models", *BASE},
    "explain": {"config", "data", "models", "retrieval", *BASE},
    "figures": {"config", "data", "models", "retrieval", "explain", *BASE},
    "talk": {"config", "data", "models", "retrieval", "explain", "figures", *BASE},
    "commands": {"config", "data", "models", "retrieval", "explain", "talk", *BASE},
    "cli": {"commands"},
    "__main__": {"cli"},
    "__init__": set(),
    "app": {"config", "data", "models", "retrieval", "explain", "figures", "talk", *BASE},
}


def layer(module: str) -> str:
    """`splade_demo.retrieval.bm25` -> `retrieval`; `splade_demo.config` -> `config`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layer_table_covers_every_module() -> None:
    assert {layer(module_name(path).removesuffix(".__init__")) for path in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(REPO_ROOT)) for p in MODULES])
def test_only_the_app_layer_imports_streamlit(path: Path) -> None:
    own = layer(module_name(path))
    streamlit = sorted(m for m in imported_modules(path) if m == "streamlit" or m.startswith("streamlit."))
    assert own == "app" or not streamlit, f"{path.relative_to(REPO_ROOT)} imports {streamlit}"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(REPO_ROOT)) for p in MODULES])
def test_imports_follow_the_layers(path: Path) -> None:
    own = layer(module_name(path).removesuffix(".__init__"))
    imports = imported_modules(path)
    views = sorted(m for m in imports if m == "views" or m.startswith("views.") or m == "app")
    assert not views, f"logic imports a page or the router: {views}"
    wrong = sorted(m for m in imports if m.startswith("splade_demo.") and layer(m) != own
                   and layer(m) not in ALLOWED[own] and m != "splade_demo.__version__")
    assert not wrong, f"{path.relative_to(REPO_ROOT)} ({own}) may import only {sorted(ALLOWED[own])}: {wrong}"


def test_pages_reach_logic_only_through_the_package() -> None:
    """The router and the pages import splade_demo, Streamlit and display libraries, never each other."""
    for path in [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "views").glob("*.py"))]:
        imports = imported_modules(path)
        assert not [m for m in imports if m.startswith("views") or m == "app"], path.name
