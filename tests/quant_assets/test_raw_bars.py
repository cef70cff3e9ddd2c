"""Bad data stops the graph: validation errors fail raw_bars, failed checks block downstream."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from quant_assets.definitions import defs
from quant_assets.resources import MarketDataResource
from tests.quant_engine.data.bad_inputs import BAD_INPUTS, GOOD_ROWS, csv_text


def _materialize(home: Path, directory: Path, selection: list[str]):
    definitions = defs()
    return dg.materialize(
        [a for a in definitions.assets if a.key.to_user_string() in selection],
        resources={
            **definitions.resources,
            "market_data": MarketDataResource(source="directory", directory=str(directory)),
        },
        run_config={"ops": {"raw_bars": {"config": {"min_history": 3}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_raw_bars_with_its_message_and_writes_nothing(quant_home, tmp_path, case):
    content, expected = BAD_INPUTS[case]
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "BAD.csv").write_text(content)
    result = _materialize(quant_home, data, ["raw_bars"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert expected in str(failure.step_failure_data.error)
    assert [p for p in _files(quant_home) if p.suffix in (".parquet", ".csv", ".tmp")] == []


def test_failed_blocking_check_skips_downstream_assets(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    # A tenfold jump in one day: valid OHLC, but not believable without a corporate action.
    (data / "JUMP.csv").write_text(csv_text(GOOD_ROWS[0], "2024-01-03,10.5,120,10,110,1200"))
    result = _materialize(quant_home, data, ["raw_bars", "features"])
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["no_extreme_moves"].passed is False
    assert checks["no_extreme_moves"].metadata["count"].value == 1
    assert "JUMP" in checks["no_extreme_moves"].metadata["examples"].value
    assert checks["sufficient_history"].passed is False  # JUMP has 2 bars < 3
    materialized = {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }
    assert materialized == {"raw_bars"}
    assert not (quant_home / "assets" / "features.parquet").exists()


def test_clean_directory_passes_the_checks(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "A.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "B.csv").write_text(csv_text(*GOOD_ROWS))
    result = _materialize(quant_home, data, ["raw_bars"])
    assert result.success
    stored = pl.read_parquet(quant_home / "assets" / "raw_bars.parquet")
    assert stored["symbol"].unique().sort().to_list() == ["A", "B"]
