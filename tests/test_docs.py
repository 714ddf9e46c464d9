"""The guides in docs/ run as written: every ```python block, in order, as one script."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "actuary-guide.md"

# What the output of a guide must mention, beyond running without an exception.
EXPECTED_OUTPUT: dict[str, tuple[str, ...]] = {
    "actuary-guide.md": (
        "tables 2026.1, effective 2026-01-01",
        "contained_fire",
        "expected insured loss",
        "VaR 99.5%",
        "1 in 100 years: AEP",
        "1 in 250 years: AEP",
        "TVaR 99.5% over 2M years",
        "refused:",
        "loaded 2026.5-draft",
        "effect on the premium",
        "TVaR 99% on two sites",
        "TVaR 99% on one site",
        "property deductible",
        "added by the event",
    ),
}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def _run_blocks(path: Path) -> str:
    """Run the file's Python blocks in one namespace from the repository root; return stdout."""
    blocks = _python_blocks(path.read_text(encoding="utf-8"))
    assert blocks, f"{path.name} has no Python block"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    output = io.StringIO()
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(output):
            for number, block in enumerate(blocks, start=1):
                exec(compile(block, f"{path.name} (block {number})", "exec"), namespace)
    finally:
        os.chdir(previous)
    return output.getvalue()


WALKTHROUGHS = sorted(
    path for path in DOCS.glob("*.md") if _python_blocks(path.read_text(encoding="utf-8"))
)
"""Docs with Python blocks (walk-throughs); reference pages such as performance.md have none."""


def test_the_actuary_guide_is_a_walkthrough() -> None:
    assert GUIDE in WALKTHROUGHS


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=lambda path: path.name)
def test_docs_python_blocks_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Temporary folders the guide makes (a draft tables version) go under pytest's tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    output = _run_blocks(path)
    assert output.strip(), f"{path.name} printed nothing"
    assert "Traceback" not in output
    for expected in EXPECTED_OUTPUT.get(path.name, ()):
        assert expected in output, f"{path.name}: the output does not mention {expected!r}"


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda path: path.name)
def test_docs_code_fences_are_balanced(path: Path) -> None:
    fences = re.findall(r"^```", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(fences) % 2 == 0, f"{path.name} has an unclosed code block"


def test_actuary_guide_is_collected() -> None:
    assert GUIDE.is_file()
    text = GUIDE.read_text(encoding="utf-8")
    assert len(_python_blocks(text)) >= 10
    for name in ("write_manifest_hashes", "uw.quote(", "on_one_site", "tvar_contributions"):
        assert name in text, f"the guide does not show {name}"
