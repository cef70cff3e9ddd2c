"""The research notebook runs headless against a materialized QUANT_HOME and draws its plots."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_research.ipynb"


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_research_notebook_executes(
    materialized_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel is a subprocess: it inherits os.environ as it is when the kernel starts.
    monkeypatch.setenv("QUANT_HOME", str(materialized_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)

    # Raises CellExecutionError, with the failing cell's traceback, if any cell fails.
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]

    stdout = _stdout(nb)
    assert f"QUANT_HOME = {materialized_home.resolve()}" in stdout
    runs = re.search(r"^training runs: (\d+)$", stdout, re.MULTILINE)
    assert runs is not None, stdout
    assert int(runs.group(1)) > 0
    days = re.search(r"^days with IC: (\d+)$", stdout, re.MULTILINE)
    assert days is not None, stdout
    assert int(days.group(1)) > 0

    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 3  # per-fold IC, signal heatmap, equity curves
