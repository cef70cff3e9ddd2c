"""The MLflow UI in a browser: the quant-alpha experiment with the walk-forward runs of several
model families (trained by the model-zoo assets) selected and compared side by side."""

import os
import re
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.ui.conftest import free_port

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def _families(tracking_uri: str) -> tuple[str, dict[str, str]]:
    """The experiment's id and its parent runs' names by model family."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("quant-alpha")
    runs = client.search_runs([experiment.experiment_id], "tags.`mlflow.parentRunId` IS NULL")
    return experiment.experiment_id, {
        run.data.params["model_family"]: run.info.run_name for run in runs
    }


def test_experiment_compares_model_families_side_by_side(page, screenshots, serve, zoo):
    home, _ = zoo
    experiment_id, run_names = _families(home.mlflow_tracking_uri)
    assert len(run_names) >= 3, run_names
    port = free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [mlflow, "ui", "--backend-store-uri", home.mlflow_tracking_uri]
    command += ["--host", "127.0.0.1", "--port", port, "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    server = serve([str(arg) for arg in command], f"http://127.0.0.1:{port}", "/health", env)

    page.goto(server.url + "/")
    expect(page.get_by_role("link", name="quant-alpha").first).to_be_visible()
    screenshots.take(page, "experiments")

    page.goto(f"{server.url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
    for run_name in run_names.values():
        row = page.get_by_role("row").filter(has_text=run_name)
        expect(row).to_be_visible()
        row.get_by_role("checkbox", name=re.compile("toggle row selection")).click()
    screenshots.take(page, "runs-selected")

    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.get_by_text(f"Comparing {len(run_names)} Runs")).to_be_visible()
    family_row = page.locator("tr", has=page.get_by_text("model_family", exact=True))
    expect(family_row).to_be_visible()
    for family in run_names:
        expect(family_row).to_contain_text(family)
    family_row.scroll_into_view_if_needed()
    screenshots.take(page, "compare-families")
