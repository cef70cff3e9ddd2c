from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from quant_engine.data import BAR_SCHEMA, BarValidationError, load_bar_directory
from tests.quant_engine.data.bad_inputs import BAD_INPUTS, GOOD_ROWS, csv_text


def _write_good(directory: Path) -> None:
    (directory / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))


def test_loads_csv_and_parquet_into_the_canonical_schema(tmp_path):
    _write_good(tmp_path)
    pl.DataFrame(
        {
            "timestamp": [datetime(2024, 1, 2, 21), datetime(2024, 1, 3, 21)],
            "open": [100.0, 101.0],
            "high": [102.0, 103.0],
            "low": [99.0, 100.0],
            "close": [101.0, 102.0],
            "volume": [5e5, 6e5],
        }
    ).write_parquet(tmp_path / "PQ.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    bars = load_bar_directory(tmp_path)
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars["symbol"].to_list() == ["GOOD"] * 3 + ["PQ"] * 2
    assert bars["timestamp"][3] == datetime(2024, 1, 2, 21, tzinfo=UTC)
    assert bars.filter(pl.col("symbol") == "GOOD")["close"].to_list() == [10.5, 11.0, 11.5]


def test_offset_timestamps_are_converted_to_utc(tmp_path):
    rows = ["2024-01-02T16:00:00-05:00,10,11,9,10.5,1000", "2024-01-03T16:00:00-05:00,10,11,9,10,1"]
    (tmp_path / "NY.csv").write_text(csv_text(*rows))
    bars = load_bar_directory(tmp_path)
    assert bars["timestamp"][0] == datetime(2024, 1, 2, 21, tzinfo=UTC)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_each_bad_input_gets_one_clear_error(tmp_path, case):
    content, expected = BAD_INPUTS[case]
    _write_good(tmp_path)
    (tmp_path / "BAD.csv").write_text(content)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(BarValidationError) as error:
        load_bar_directory(tmp_path)
    assert expected in str(error.value)
    assert str(tmp_path / "BAD.csv") in str(error.value)
    assert sorted(tmp_path.iterdir()) == before  # nothing written beside the inputs


def test_error_counts_further_bad_rows(tmp_path):
    rows = [GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,x,1", "2024-01-04,11,12,10.5,y,1"]
    (tmp_path / "BAD.csv").write_text(csv_text(*rows))
    with pytest.raises(BarValidationError, match=r"row 2.*\(1 more row with the same problem\)"):
        load_bar_directory(tmp_path)


def test_directory_problems_are_named(tmp_path):
    with pytest.raises(BarValidationError, match=r"contains no \.csv or \.parquet bar files"):
        load_bar_directory(tmp_path)
    with pytest.raises(BarValidationError, match="is not a directory"):
        load_bar_directory(tmp_path / "absent")
    _write_good(tmp_path)
    pl.read_csv(tmp_path / "GOOD.csv").write_parquet(tmp_path / "GOOD.parquet")
    with pytest.raises(BarValidationError, match="symbol 'GOOD' is also defined by"):
        load_bar_directory(tmp_path)
