import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from quant_assets.definitions import defs
from quant_assets.defs.market_data.assets import CHECKS as RAW_BARS_CHECKS
from quant_assets.profile import DeploymentProfile
from tests.conftest import REPO_ROOT

FAMILIES = {f"alpha_{f}" for f in ("ridge", "mlp", "lstm", "tcn", "transformer")}
LIVE = {"target_portfolio", "rebalance", "reconciliation"}


def test_definitions_load_with_the_expected_graph():
    definitions = defs()
    definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    spine = {
        "raw_bars",
        "features",
        "alpha_model",
        "champion",
        "signals",
        "backtest",
        "execution_costs",
    }
    assert keys == spine | FAMILIES | LIVE
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["alpha_model"] == {"features", "raw_bars"}
    # The promotion is in the graph: every model feeds champion, and champion feeds signals.
    assert parents["champion"] == {"features", "alpha_model"} | FAMILIES
    assert parents["signals"] == {"champion", "features"}
    assert parents["backtest"] == {"signals", "raw_bars"}
    assert parents["execution_costs"] == {"raw_bars"}
    specs = definitions.resolve_assets_def("raw_bars").check_specs
    checks = {spec.name: spec.blocking for spec in specs}
    assert checks == dict.fromkeys(RAW_BARS_CHECKS, True)
    for asset, check in (
        ("features", "features_reading_the_future"),
        *((model, "shifted_label_probe") for model in ("alpha_model", *FAMILIES)),
    ):
        specs = definitions.resolve_assets_def(asset).check_specs
        assert {(s.name, s.blocking) for s in specs} == {(check, True)}, asset
        assert all(s.description for s in specs)
    for spec in definitions.resolve_all_asset_specs():
        assert spec.owners, spec.key
        assert "dagster/code_references" in spec.metadata, spec.key


def test_schedules_are_stopped_by_default_and_retrain_weekly():
    definitions = defs()
    daily = definitions.resolve_schedule_def("daily_pipeline_schedule")
    weekly = definitions.resolve_schedule_def("weekly_retrain_schedule")
    assert daily.default_status == weekly.default_status == dg.DefaultScheduleStatus.STOPPED
    assert weekly.cron_schedule == "0 6 * * 6"
    daily_job = definitions.resolve_job_def("daily_pipeline_job")
    selected = {k.to_user_string() for k in daily_job.asset_layer.selected_asset_keys}
    assert "alpha_model" not in selected and "signals" in selected
    assert "champion" not in selected  # the daily job scores with the champion as it is
    assert not any(key.startswith("alpha_") for key in selected)
    zoo = definitions.resolve_job_def("model_zoo_job").asset_layer.selected_asset_keys
    assert {k.to_user_string() for k in zoo} == FAMILIES | {"champion"}  # then the decision


def test_dagster_cli_validates_the_workspace(tmp_path: Path):
    profile = DeploymentProfile.from_env({"QUANT_HOME": str(tmp_path / "home")})
    profile.home.ensure()
    profile.install_instance()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(profile.home.dagster),
        "QUANT_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stderr + done.stdout


def test_dagster_yaml_gives_a_queued_sqlite_instance_with_run_limits(tmp_path: Path, monkeypatch):
    profile = DeploymentProfile.from_env({"QUANT_HOME": str(tmp_path)})  # as `quant` installs it
    profile.home.ensure()
    profile.install_instance()
    monkeypatch.setenv("DAGSTER_HOME", str(profile.home.dagster))
    with dg.DagsterInstance.get() as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert (tmp_path / "dagster" / "history" / "runs.db").is_file()  # SQLite in DAGSTER_HOME
    assert queue.max_concurrent_runs == 2
    assert queue.tag_concurrency_limits == [
        {"key": "quant/workload", "value": "training", "limit": 1},
        {"key": "quant/broker_account", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    ]
    retrain = defs().resolve_job_def("retrain_job")
    assert retrain.tags["quant/workload"] == "training"
