"""The pipeline runs one way: a stage imports only the stages below it (STYLE.md, Architecture)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "underwriting"

# Each module and the project modules it may import. Lower stages never import higher ones.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    # Where blocks run (in process or on Dask); knows nothing of insurance.
    "executors": {"errors"},
    "sections": set(),
    "randomness": set(),
    "distributions": {"errors"},
    "submission": set(),
    "factors": {"submission"},
    "terms": {"errors", "sections"},
    "request": {"submission", "terms"},
    "tables": {"distributions", "errors", "factors", "sections", "submission"},
    "profile": {"distributions", "errors", "factors", "sections", "submission", "tables"},
    "results": {"errors", "sections", "profile", "terms", "plots"},
    # The compiled kernel: flattens profiles and terms, draws as randomness does.
    "kernel": {"distributions", "profile", "randomness", "sections", "terms"},
    "simulation": {
        "errors",
        "executors",
        "kernel",
        "profile",
        "randomness",
        "results",
        "sections",
        "terms",
    },
    "experience": {"errors", "profile", "submission", "tables"},
    "pricing": {"results", "sections", "tables"},
    "decision": {"tables"},
    "quote": {
        "decision",
        "randomness",
        "errors",
        "experience",
        "plots",
        "pricing",
        "profile",
        "request",
        "results",
        "simulation",
        "submission",
        "tables",
        "terms",
    },
    "portfolio": {
        "executors",
        "experience",
        "kernel",
        "plots",
        "profile",
        "randomness",
        "request",
        "results",
        "simulation",
        "tables",
        "terms",
    },
    "analysis": {
        "distributions",
        "errors",
        "experience",
        "profile",
        "quote",
        "request",
        "results",
        "simulation",
        "tables",
    },
    # plots draws results, quotes and portfolios (types only); those offer plot_*() methods that
    # import it lazily, so matplotlib stays optional.
    "plots": {"portfolio", "quote", "results"},
    "examples": {"profile", "request", "simulation", "tables"},
    "__init__": {
        "analysis",
        "decision",
        "distributions",
        "errors",
        "experience",
        "kernel",
        "portfolio",
        "pricing",
        "quote",
        "profile",
        "request",
        "results",
        "sections",
        "simulation",
        "submission",
        "tables",
        "terms",
    },
}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("underwriting"):
            module = node.module or ""
            found.add(module.split(".")[1] if "." in module else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("underwriting."):
                    found.add(alias.name.split(".")[1])
    return found


def test_every_module_has_a_place_in_the_pipeline() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == set(ALLOWED), modules ^ set(ALLOWED)


def test_imports_flow_downward_only() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        imported = _project_imports(path) - {path.stem}
        extra = imported - ALLOWED[path.stem]
        assert not extra, f"underwriting/{path.name} imports {sorted(extra)}, not allowed"


def test_the_core_does_not_import_heavy_optional_libraries() -> None:
    # At module level, that is: optional extras (matplotlib for plots) are imported inside the
    # functions that need them, so ``import underwriting`` works without them.
    forbidden = {"pandas", "dask", "matplotlib", "fastapi", "sqlalchemy"}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not set(names) & forbidden, f"{path.name} imports {names}"


def test_importing_the_package_loads_neither_dask_nor_scipy_stats() -> None:
    # Dask is the optional [dask] extra: only backend="dask" imports it, inside the call. And
    # scipy.stats (about 45 MiB and most of the import time) is not needed to simulate or price.
    # A fresh interpreter, since this test session may have imported both already.
    code = (
        "import sys, underwriting, underwriting.executors, underwriting.portfolio; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'} "
        "or m.startswith('scipy.stats')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    ).stdout.strip()
    assert loaded == "[]", loaded


def test_the_api_is_a_thin_shell() -> None:
    # No actuarial logic in api/: it never computes with numpy or scipy, and reaches the engine
    # only through the package's public names (``import underwriting as uw``) or its errors.
    api = PACKAGE.parent / "api"
    for path in sorted(api.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in {"numpy", "scipy"}, path.name
                    if alias.name.startswith("underwriting"):
                        assert alias.name == "underwriting", (path.name, alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in {"numpy", "scipy"}, path.name
                if node.module.startswith("underwriting"):
                    assert node.module in {
                        "underwriting",
                        "underwriting.errors",
                        "underwriting.submission",
                        "underwriting.terms",
                        "underwriting.profile",
                    }, (path.name, node.module)
