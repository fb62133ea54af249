"""The layering of docs/architecture.md, read from the source with ast: who may import whom.

Every import counts, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "splade_demo"
# The bottom modules every layer may use: load-once, file replacement that Windows tolerates, checksums, the
# device and precision from torch's capability checks, and first heavy imports frozen out of the collector's passes.
BASE = {"once", "files", "integrity", "compute", "frozen_imports"}
# Each layer of splade_demo and the layers it may import (besides itself). Lower layers never import higher ones.
ALLOWED: dict[str, set[str]] = {
    "once": set(),
    "config": {"compute"},
    "compute": {"frozen_imports"},
    "frozen_imports": set(),
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


# -- #21: no import circles, few function-level imports, one way into retrieval, short pages -------------------
def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module imported, inside a function?, line) for each name imported at run time (not under TYPE_CHECKING)."""
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                found.extend((f"{child.module}.{alias.name}", inside, child.lineno) for alias in child.names)
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


PACKAGE_MODULES = {module_name(p).removesuffix(".__init__"): p for p in MODULES}


def _target(name: str) -> str | None:
    """The package module that `name` (a module, or a name inside one) lives in."""
    while name and name not in PACKAGE_MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_the_package_has_no_import_circles() -> None:
    graph = {m: {t for name, _, _ in runtime_imports(p) if (t := _target(name)) and t != m}
             for m, p in PACKAGE_MODULES.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert circles == [], circles


# Function-level imports of the package's own modules hide circles and load order; at most this many remain, each a
# deliberate lazy import of a module that imports torch (pipeline's `_splade_modules`, milvus' text recipe).
MAX_FUNCTION_LEVEL_IMPORTS = 5
# commands/index.py's four are of the same kind (the encoder, index and Milvus modules import torch, which `search
# --method bm25` and the other commands never load); counted apart, as the CLI's one torch-loading command.
BEING_REWRITTEN = {"splade_demo/commands/index.py"}


def test_at_most_five_package_imports_inside_functions() -> None:
    statements = sorted({(str(p.relative_to(REPO_ROOT)), line) for p in MODULES
                         for name, inside, line in runtime_imports(p) if inside and name.startswith("splade_demo.")})
    counted = [s for s in statements if s[0] not in BEING_REWRITTEN]
    assert len(counted) <= MAX_FUNCTION_LEVEL_IMPORTS, counted


UI = [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "views").glob("*.py")), *sorted((PACKAGE / "app").rglob("*.py"))]


@pytest.mark.parametrize("path", UI, ids=[str(p.relative_to(REPO_ROOT)) for p in UI])
def test_the_ui_reaches_retrieval_only_through_the_pipeline(path: Path) -> None:
    """app/ and views/ rank only through `Pipeline`: no import of the rankers, indexes or engines themselves."""
    retrieval = sorted(m for m in imported_modules(path) if m.startswith("splade_demo.retrieval")
                       and not m.startswith("splade_demo.retrieval.pipeline") and m != "splade_demo.retrieval")
    assert not retrieval, f"{path.relative_to(REPO_ROOT)} imports {retrieval}; use splade_demo.retrieval.pipeline"


PAGES = sorted((REPO_ROOT / "views").glob("*.py"))
MAX_PAGE_LINES = 120


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_pages_are_short_and_import_at_the_top(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_PAGE_LINES, f"{path.name} has {len(source.splitlines())} lines"
    tree = ast.parse(source)
    body = tree.body
    first_code = next((i for i, node in enumerate(body) if not isinstance(node, (ast.Import, ast.ImportFrom))
                       and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))), len(body))
    late = [node.lineno for node in body[first_code:] if isinstance(node, (ast.Import, ast.ImportFrom))]
    nested = [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
              and all(node is not top for top in body)]
    assert not late and not nested, f"{path.name}: imports after the page begins, at lines {late + nested}"


def test_what_every_page_loads_never_imports_torch() -> None:
    """app.py's own modules (router, sidebar, guide and its talk download) and the BM25 and GloVe logic load without
    torch: it takes seconds to import, and only the SPLADE and BERT pages need it. Checked in a fresh interpreter."""
    import subprocess
    import sys

    modules = ["splade_demo.app.guide", "splade_demo.app.sidebar", "splade_demo.app.pages",
               "splade_demo.app.queue_notice", "splade_demo.explain.lexical_gap", "splade_demo.explain.glove"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + \
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
