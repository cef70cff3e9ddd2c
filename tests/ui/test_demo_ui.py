"""What a researcher sees in a browser after the demo (on the small market, tests/ui/small_demo):
every raw_bars partition of the market's days materialized, the README's "Materialize all"
path ending in success, alpha_model's feature importance and its link to the MLflow run that
loads, and the features' column schema."""

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from quant_engine.paths import QuantHome
from tests.conftest import REPO_ROOT
from tests.ui.conftest import free_port
from tests.ui.small_demo import small_market

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

FIRST_DAY, LAST_DAY = small_market().available_days()
BACKFILL_TIMEOUT_MS = 1_800_000  # the whole graph again, model zoo included, on 2 busy cores


def _skip_community_dialog(page) -> None:
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _: page.get_by_role("button", name="Skip").click(),
    )


def _weekdays(first: date, last: date) -> int:
    return sum((first + timedelta(days=i)).weekday() < 5 for i in range((last - first).days + 1))


def _demo(tmp_path: Path, mlflow_url: str) -> dict[str, str]:
    """`quant demo`'s set-up on the small market in a fresh QUANT_HOME; the servers' env."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DAGSTER_HOME")}
    env.update(
        QUANT_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        QUANT_LAST_BAR_DAY=LAST_DAY.isoformat(),  # the partitions end with the market
        QUANT_MLFLOW_UI_URL=mlflow_url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "tests.ui.small_demo"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    assert done.returncode == 0, log.read_text()[-3000:]
    return env


def test_the_demo_in_dagster_and_mlflow(page, screenshots, serve, tmp_path: Path):
    dagster_port, mlflow_port = free_port(), free_port()
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    env = _demo(tmp_path, mlflow_url)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: tests.ui.small_demo\n"
        f"      location_name: quant_assets\n      working_directory: {REPO_ROOT}\n"
    )
    bin_dir = Path(sys.executable).parent
    home = QuantHome(Path(env["QUANT_HOME"]))
    mlflow = [bin_dir / "mlflow", "ui", "--backend-store-uri", home.mlflow_tracking_uri]
    mlflow += ["--host", "127.0.0.1", "--port", mlflow_port, "--workers", "1"]
    serve([str(arg) for arg in mlflow], mlflow_url, "/health", env)
    dagster = [bin_dir / "dg", "dev", "-w", workspace, "-h", "127.0.0.1", "-p", dagster_port]
    url = f"http://127.0.0.1:{dagster_port}"
    serve([str(arg) for arg in dagster], url, "/server_info", env)
    _skip_community_dialog(page)

    # Every day of the market is a materialized partition; none lies beyond it.
    page.goto(url + "/assets/raw_bars?view=partitions")
    expect(page.get_by_text(FIRST_DAY.isoformat(), exact=True).first).to_be_visible()
    expect(page.get_by_text(LAST_DAY.isoformat(), exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ Partitions Selected$"))).to_be_visible()
    total = int(page.get_by_text(re.compile(r"^\d+ Partitions Selected$")).inner_text().split()[0])
    expect(page.get_by_text(f"Materialized ({total})", exact=True)).to_be_visible()
    expect(page.get_by_text("Missing (0)", exact=True)).to_be_visible()
    expect(page.get_by_text("Failed (0)", exact=True)).to_be_visible()
    assert total == _weekdays(FIRST_DAY, LAST_DAY)
    screenshots.take(page, "raw-bars-partitions")

    # The features' column schema.
    page.goto(url + "/assets/features")
    expect(page.get_by_text("Column name", exact=True)).to_be_visible()
    for column in ("ret_5_rank", "label"):
        expect(page.get_by_role("cell", name=column, exact=True).first).to_be_visible()
    screenshots.take(page, "features-columns")

    # alpha_model: feature importance and the link to its MLflow run, which loads.
    page.goto(url + "/assets/alpha_model")
    expect(page.get_by_text("feature_importance", exact=True)).to_be_visible()
    expect(page.get_by_text("importance (gain)")).to_be_visible()
    link = page.locator(f'a[href^="{mlflow_url}/#/experiments/"]').first
    expect(link).to_be_visible()
    run_url = link.get_attribute("href")
    screenshots.take(page, "alpha-model")
    run_id = run_url.rsplit("/", 1)[-1]
    page.goto(run_url)
    expect(page.get_by_text("model_family").first).to_be_visible()
    expect(page.get_by_text(run_id).first).to_be_visible()
    screenshots.take(page, "mlflow-run")

    # The README: "Materialize all" opens the launch dialog; select the latest partition and
    # launch: the backfill runs the graph again and succeeds.
    page.goto(url + "/asset-groups")
    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Latest", exact=True).click()
    expect(dialog.locator("input").first).to_have_value(LAST_DAY.isoformat())
    screenshots.take(page, "materialize-all")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(dialog).to_have_count(0)
    page.goto(url + "/overview/backfills")
    page.locator('a[href^="/runs/b/"]').first.click()
    selection = page.get_by_text("Partition selection", exact=True).first.locator("xpath=..")
    expect(selection).to_contain_text(f"{LAST_DAY}...{LAST_DAY}")
    status = page.get_by_text("Status", exact=True).first.locator("xpath=..")
    finished = re.compile(r"Succeeded|Failed|Canceled")
    expect(status).to_contain_text(finished, timeout=BACKFILL_TIMEOUT_MS)
    screenshots.take(page, "backfill-done")
    expect(status).to_have_text(re.compile(r"Status\s*Succeeded"))
