"""The walk-through notebook, docs/notebook.ipynb, runs from top to bottom without an error."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="nbformat is not installed (the [notebook] extra)"
)
nbclient = pytest.importorskip(
    "nbclient", reason="nbclient is not installed (the [notebook] extra)"
)
pytest.importorskip("ipykernel", reason="ipykernel is not installed (the [notebook] extra)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_the_notebook_runs_and_shows_each_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel of this interpreter, whatever the PATH says "python" is.
    spec = tmp_path / "kernels" / "underwriting-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "underwriting test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="underwriting-test",
        resources={"metadata": {"path": str(ROOT / "docs")}},
    )
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"the notebook took {elapsed:.0f} s"
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "<strong>Quote CHEM-SYN-305" in html  # the quote's own display
    assert "<strong>SimulationResult CHEM-SYN-305" in html
    assert "agree within 4 standard errors" in html  # the exact cross-check
    assert "il_S1_ept.parquet" in text
    assert "SELT total" in text
    assert "the exact method does not apply" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
