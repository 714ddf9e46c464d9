"""The README's Python examples run as written."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_blocks_run() -> None:
    blocks = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README has no Python example"
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
            assert "expected insured loss" in output.getvalue()
            assert "Traceback" not in output.getvalue()
    finally:
        os.chdir(previous)


def test_readme_shows_the_two_commands_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```")
    assert "make run" in text[first_block : first_block + 300]
    assert "make test" in text[first_block : first_block + 300]
