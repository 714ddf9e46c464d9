"""The pipeline runs one way: a stage imports only the stages below it (README.md, Architecture).

A stage is a sub-package of ``underwriting/`` (``model/``, ``rating/``, ...) or one of the
top-level modules that compose them (``request``, ``quote``, ``portfolio``, ``analysis``,
``examples``). The rules are read with ``ast``: an import under ``if TYPE_CHECKING:`` is an
annotation and runs never, so it is left out; an import inside a function runs when the function
is called and counts like any other, the report's lazy imports being the one exception stated.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import underwriting as uw

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "underwriting"

# Each stage, bottom to top, and the stages it may import at run time.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    # Sections, submission, distributions: what is insured and what may happen.
    "model": {"errors"},
    # Tables, factors, the risk profile, experience and the rules' decision.
    "rating": {"errors", "model"},
    # The policy terms and their application to event losses.
    "terms": {"errors", "model"},
    # Annual losses and their metrics (the profile and terms it names are annotations only).
    "results": {"model"},
    # Randomness, the NumPy and compiled engines, the executors.
    "engine": {"errors", "model", "rating", "results", "terms"},
    # Capital model, premium and worksheet.
    "pricing": {"model", "rating", "results"},
    # Figures: a leaf that imports no stage (results, quotes and portfolios as annotations only).
    "report": set(),
    # What a quote is asked for: a submission, its terms and options, the seed and years.
    "request": {"model", "terms"},
    # Composes every stage into a quote.
    "quote": {"engine", "errors", "model", "pricing", "rating", "request", "results", "terms"},
    "portfolio": {"engine", "rating", "request", "results", "terms"},
    "analysis": {"engine", "errors", "model", "pricing", "quote", "rating", "request", "results"},
    # What follows a quote: its states, record, offers and revisions, paired pricing, renewals
    # and their rate change, rate monitoring.
    "workflow": {
        "analysis",
        "errors",
        "model",
        "pricing",
        "quote",
        "rating",
        "request",
        "results",
        "terms",
    },
    # ``python -m underwriting.examples``: the example labs' summaries.
    "examples": {"analysis", "rating", "request"},
    # The curated public API, ``uw.*``.
    "__init__": {
        "analysis",
        "engine",
        "errors",
        "model",
        "portfolio",
        "pricing",
        "quote",
        "rating",
        "request",
        "results",
        "terms",
        "workflow",
    },
}

# The one upward edge: the plot_*() methods of results, quotes and portfolios import the report
# inside the method, so matplotlib stays optional and no cycle forms at import.
LAZY_ALLOWED: dict[str, set[str]] = {
    "results": {"report"},
    "quote": {"report"},
    "portfolio": {"report"},
}

SUBPACKAGES = {"model", "rating", "terms", "engine", "results", "pricing", "report", "workflow"}


@dataclass(frozen=True)
class Import:
    module: str  # the full dotted name imported from, e.g. "underwriting.rating._tables"
    stage: str  # the stage it belongs to, e.g. "rating"
    lazy: bool  # inside a function: runs when the function is called
    line: int


def _stage_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names in ``underwriting`` that an import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "underwriting"]
    assert node.level == 0, f"relative import at line {node.lineno}: write it absolute"
    module = node.module or ""
    if module != "underwriting":
        return [module] if module.startswith("underwriting.") else []
    # ``from underwriting import x``: x is a stage (a module) or a name of the public API.
    stages = set(ALLOWED) - {"__init__"}
    return [
        f"underwriting.{alias.name}" if alias.name in stages else "underwriting"
        for alias in node.names
    ]


def _runtime_imports(path: Path) -> list[Import]:
    """The project imports of a file that run, at import or inside a function."""
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for statement in node.orelse:
                visit(statement, lazy)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in _targets(node):
                parts = module.split(".")
                stage = parts[1] if len(parts) > 1 else "__init__"
                found.append(Import(module, stage, lazy, node.lineno))
            return
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _graph() -> dict[str, set[str]]:
    """Stage -> the stages its code imports at run time (lazy imports included)."""
    graph: dict[str, set[str]] = {stage: set() for stage in ALLOWED}
    for path in _package_files():
        stage = _stage_of(path)
        graph[stage] |= {i.stage for i in _runtime_imports(path)} - {stage}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_has_a_place_in_the_pipeline() -> None:
    stages = {_stage_of(path) for path in _package_files()}
    assert stages == set(ALLOWED), stages ^ set(ALLOWED)
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert folders == SUBPACKAGES


def test_imports_flow_downward_only() -> None:
    for path in _package_files():
        stage = _stage_of(path)
        for imported in _runtime_imports(path):
            if imported.stage == stage:
                continue
            allowed = ALLOWED[stage] | (LAZY_ALLOWED.get(stage, set()) if imported.lazy else set())
            assert imported.stage in allowed, (
                f"{path.relative_to(ROOT)}:{imported.line} imports {imported.module}"
                f"{' (lazily)' if imported.lazy else ''}: {stage} may not import {imported.stage}"
            )


def test_the_stages_form_no_cycle() -> None:
    # Neither the rules nor the imports the code makes (lazy ones included) have a cycle.
    assert _cycle(ALLOWED) is None, _cycle(ALLOWED)
    allowed_with_lazy = {s: ALLOWED[s] | LAZY_ALLOWED.get(s, set()) for s in ALLOWED}
    assert _cycle(allowed_with_lazy) is None, _cycle(allowed_with_lazy)
    graph = _graph()
    assert _cycle(graph) is None, _cycle(graph)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_only_the_public_api_imports_the_workflow() -> None:
    # The workflow composes quotes; no stage of the pipeline depends on it.
    importers = {stage for stage, imported in _graph().items() if "workflow" in imported}
    assert importers <= {"__init__"}, importers


def test_the_report_is_a_leaf_reached_only_lazily() -> None:
    for path in _package_files():
        for imported in _runtime_imports(path):
            if imported.stage == "report" and _stage_of(path) != "report":
                assert imported.lazy, f"{path.relative_to(ROOT)}:{imported.line} imports report"
    assert not _graph()["report"]


def test_private_modules_stay_behind_their_init() -> None:
    # Another stage imports a sub-package through its __init__, never its private modules; a
    # module of a sub-package imports its siblings directly, never its own __init__ (which may
    # not have finished loading).
    for path in _package_files():
        stage = _stage_of(path)
        for imported in _runtime_imports(path):
            parts = imported.module.split(".")
            where = f"{path.relative_to(ROOT)}:{imported.line} imports {imported.module}"
            if imported.stage != stage:
                assert not any(part.startswith("_") for part in parts[2:]), where
            elif stage in SUBPACKAGES:
                assert len(parts) > 2, where


def test_every_subpackage_init_curates_its_names() -> None:
    for name in sorted(SUBPACKAGES):
        init = PACKAGE / name / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        exported = next(
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        )
        assert isinstance(exported, ast.List)
        names = [ast.literal_eval(element) for element in exported.elts]
        imported = {
            alias.asname or alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert set(names) == imported, (init, set(names) ^ imported)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").startswith(f"underwriting.{name}._"), (init, node.module)
        for module in (PACKAGE / name).glob("*.py"):
            assert module.name.startswith("_"), f"{module}: a sub-package's modules are private"


def test_the_core_does_not_import_heavy_optional_libraries() -> None:
    # At module level, that is: optional extras (matplotlib for plots) are imported inside the
    # functions that need them, so ``import underwriting`` works without them.
    forbidden = {"pandas", "dask", "matplotlib", "fastapi", "sqlalchemy"}
    for path in _package_files():
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
        "import sys, underwriting, underwriting.engine, underwriting.portfolio; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'} "
        "or m.startswith('scipy.stats') or m.startswith('underwriting.report')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert loaded == "[]", loaded


# What api/ may import of the package: the public API and the sub-packages of the types it
# declares (model, rating, terms), of its errors, the report it draws for the CLI, and the
# workflow's actions on quote records.
API_MAY_IMPORT = {
    "underwriting",
    "underwriting.errors",
    "underwriting.model",
    "underwriting.rating",
    "underwriting.terms",
    "underwriting.report",
    "underwriting.workflow",
}


def test_the_api_is_a_thin_shell() -> None:
    # No actuarial logic in api/: it never computes with numpy or scipy, and reaches the engine
    # only through the package's public names (``import underwriting as uw``), its errors and a
    # few public sub-packages, never a private module.
    api = ROOT / "api"
    public = set(uw.__all__)
    for path in sorted(api.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in {"numpy", "scipy"}, path.name
                    if alias.name.startswith("underwriting"):
                        assert alias.name == "underwriting", (path.name, alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in {"numpy", "scipy"}, path.name
                if node.module == "underwriting":
                    for alias in node.names:
                        name = f"underwriting.{alias.name}"
                        assert alias.name in public or name in API_MAY_IMPORT, (path.name, name)
                elif node.module.startswith("underwriting"):
                    assert node.module in API_MAY_IMPORT, (path.name, node.module)


def _literals_outside_docstrings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module, leaving out docstrings (and so their doctests)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_currency_is_written_in_the_code() -> None:
    # The currency is the rating tables' (manifest.toml); the code reads it from there, and an
    # actuary's own profile states its own or none. Doctests may print what the tables say.
    files = [*_package_files(), *sorted((ROOT / "api").rglob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line, text in _literals_outside_docstrings(path)
        if "CNY" in text
    ]
    assert not found, found


def test_the_tests_mirror_the_package_layout() -> None:
    """Each folder of tests is named after a stage of the package (``service``: api/ and the
    CLI; ``web``: the workbench's pages, api/web), so that a stage's tests are found where its
    code is; the tests at the top check the composing modules (quote, portfolio, analysis) and
    the project as a whole."""
    tests = ROOT / "tests"
    stages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    folders = {path.name for path in tests.iterdir() if path.is_dir() and any(path.glob("*.py"))}
    assert folders <= stages | {"service", "web"}, sorted(folders - stages - {"service", "web"})
    top = {path.stem.removeprefix("test_") for path in tests.glob("test_*.py")}
    assert not top & stages, f"tests of a stage belong in its folder: {sorted(top & stages)}"
