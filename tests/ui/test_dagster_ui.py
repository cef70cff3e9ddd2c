"""The Dagster UI in a browser: the asset graph, then one raw_bars partition materialized by
clicking through the UI, until the run page says Success and the asset shows its metadata."""

import os
import re
import sys
from pathlib import Path

import pytest

from quant_assets.resources import MarketDataResource
from tests.ui.conftest import free_port

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

GROUPS = ("market_data", "research", "signals", "backtest", "model_zoo")
ASSETS = ("raw_bars", "features", "alpha_model", "signals", "backtest", "alpha_ridge", "alpha_lstm")
RUN_TIMEOUT_MS = 300_000
# The last day of the default synthetic market: one partition, ingested in seconds.
PARTITION = MarketDataResource().available_days()[1].isoformat()


def _skip_community_dialog(page) -> None:
    """Dagster asks for an e-mail once per browser; answer "Skip" whenever it shows."""
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _: page.get_by_role("button", name="Skip").click(),
    )


def test_asset_graph_and_a_materialization_launched_from_the_ui(
    page, screenshots, serve, tmp_path: Path
):
    env = {**os.environ, "QUANT_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    port = free_port()
    quant = Path(sys.executable).parent / "quant"
    command = [quant, "ui", "--dagster-port", port, "--mlflow-port", free_port()]
    dagster = serve([str(arg) for arg in command], f"http://127.0.0.1:{port}", "/server_info", env)
    _skip_community_dialog(page)

    page.goto(dagster.url + "/asset-groups")
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    screenshots.take(page, "asset-graph")

    page.set_viewport_size({"width": 1600, "height": 2000})  # the whole catalog at once
    page.goto(dagster.url + "/assets")
    for asset in ASSETS:
        expect(page.locator(f'a[href="/assets/{asset}"]').first).to_be_visible()
    screenshots.take(page, "catalog")

    page.locator('a[href="/assets/raw_bars"]').first.click()
    expect(page.get_by_text("Never materialized")).to_be_visible()
    screenshots.take(page, "raw-bars-before")

    page.locator("button", has_text="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Partition selection")).to_be_visible()
    dialog.get_by_text("Show all partitions").click()  # it starts on the last 90 days
    partitions = dialog.locator("input").first  # "ex: 2016-01-04, 2016-01-05, [...]"
    partitions.fill(PARTITION)
    partitions.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    screenshots.take(page, "launch-dialog")
    dialog.get_by_role("button", name="Launch 1 run").click()

    launched = page.get_by_text(re.compile(r"Launched run \w+"))
    expect(launched).to_be_visible()
    run_id = launched.inner_text().split()[-1]
    page.goto(dagster.url + "/runs")
    page.get_by_role("link", name=run_id).first.click()
    expect(page.get_by_text(f"partition: {PARTITION}").first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    screenshots.take(page, "run-succeeded")

    page.goto(dagster.url + "/assets/raw_bars")
    expect(page.get_by_text(PARTITION, exact=True).first).to_be_visible()
    expect(page.get_by_text("n_symbols", exact=True)).to_be_visible()
    expect(page.get_by_text("Never materialized")).to_have_count(0)
    screenshots.take(page, "raw-bars-materialized")
