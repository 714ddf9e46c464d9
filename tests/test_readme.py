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


def test_the_quoting_example_shows_an_option_that_changes_the_premium() -> None:
    # An option that repeats the base terms (an aggregate deductible of 50,000 the biobank
    # already has) prices exactly like the base and shows nothing. The option must differ from
    # the base terms, price differently, and the figures the README shows must be what the code
    # prints.
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in _python_blocks(text) if "uw.quote(" in b and "options=" in b]
    namespace: dict[str, object] = {"__name__": "__readme__"}
    output = io.StringIO()
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(block, "README.md", "exec"), namespace)
    finally:
        os.chdir(previous)
    request, option = namespace["request"], namespace["higher_deductible"]
    assert option != request.terms  # type: ignore[attr-defined]
    q = namespace["q"]
    assert q.options[0].premium.total < q.premium.total  # type: ignore[attr-defined]
    shown = re.findall(r"```text\n(option, .*?)\n```", text)
    assert shown, "the README shows what the option line prints"
    printed = output.getvalue().splitlines()
    for line in shown:
        assert line in printed, (line, printed[-3:])
