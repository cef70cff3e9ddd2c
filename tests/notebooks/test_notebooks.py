"""The notebooks run headless against a materialized QUANT_HOME and draw their plots."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


def _execute(name: str, home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    """Run every cell of notebook ``name`` against ``home``; returns the notebook and outputs."""
    # The kernel is a subprocess: it inherits os.environ as it is when the kernel starts.
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # Raises CellExecutionError, with the failing cell's traceback, if any cell fails.
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    return nb, outputs


def _images(outputs: list) -> int:
    return len([output for output in outputs if "image/png" in output.get("data", {})])


@pytest.mark.parametrize("name", ["01_research.ipynb", "02_models.ipynb"])
def test_notebook_is_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_research_notebook_executes(
    materialized_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb, outputs = _execute("01_research.ipynb", materialized_home, tmp_path, monkeypatch)
    stdout = _stdout(nb)
    assert f"QUANT_HOME = {materialized_home.resolve()}" in stdout
    runs = re.search(r"^training runs: (\d+)$", stdout, re.MULTILINE)
    assert runs is not None, stdout
    assert int(runs.group(1)) > 0
    days = re.search(r"^days with IC: (\d+)$", stdout, re.MULTILINE)
    assert days is not None, stdout
    assert int(days.group(1)) > 0

    assert _images(outputs) >= 3  # per-fold IC, signal heatmap, equity curves


def test_models_notebook_compares_the_families(
    zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = zoo
    nb, outputs = _execute("02_models.ipynb", home.root, tmp_path, monkeypatch)
    stdout = _stdout(nb)
    assert "families compared: 3" in stdout, stdout
    assert "differing across families: none" in stdout, stdout
    for family in ("lightgbm", "ridge", "lstm"):
        assert re.search(rf"^{family}\s+-?\d", stdout, re.MULTILINE), stdout  # a table row
    common = re.search(r"^common out-of-sample days: (\d+)$", stdout, re.MULTILINE)
    assert common is not None and int(common.group(1)) > 100, stdout
    assert re.search(r"^champion: version \d+, family (lightgbm|ridge|lstm)$", stdout, re.M)
    assert _images(outputs) == 3  # Sharpe intervals, IC decay, cumulative IC
