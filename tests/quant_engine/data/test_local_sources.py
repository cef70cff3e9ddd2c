"""The synthetic market and a file directory as BarSources: date slicing, symbols, errors."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig, load_bar_directory
from quant_engine.data.schema import BAR_SCHEMA, BarValidationError
from quant_engine.data.sources import BarSource
from quant_engine.data.sources.directory import DirectorySource
from quant_engine.data.sources.synthetic import SyntheticSource
from tests.quant_engine.data.bad_inputs import GOOD_ROWS, csv_text


def test_synthetic_source_slices_sessions_end_exclusive_and_is_prefix_stable():
    short = SyntheticSource(SyntheticMarketConfig(n_symbols=4, n_days=80, seed=2))
    long = SyntheticSource(SyntheticMarketConfig(n_symbols=4, n_days=120, seed=2))
    assert isinstance(short, BarSource)
    window = short.fetch(["S001", "S003"], date(2016, 2, 1), date(2016, 2, 8))
    assert window["symbol"].unique().sort().to_list() == ["S001", "S003"]
    assert window["timestamp"].dt.date().unique().sort().to_list() == [
        date(2016, 2, d) for d in (1, 2, 3, 4, 5)
    ]
    assert window.equals(long.fetch(["S001", "S003"], date(2016, 2, 1), date(2016, 2, 8)))
    assert short.fetch(None, date(2016, 2, 6), date(2016, 2, 8)).schema == pl.Schema(BAR_SCHEMA)
    assert short.fetch(None, date(2016, 2, 6), date(2016, 2, 8)).height == 0  # a weekend
    assert short.days()[0] == date(2016, 1, 4) and len(short.days()) == 80
    with pytest.raises(ValueError, match="only daily bars"):
        short.fetch(None, date(2016, 2, 1), date(2016, 2, 8), "1m")


def test_directory_source_slices_files_and_names_bad_ones(tmp_path: Path):
    (tmp_path / "A.csv").write_text(csv_text(*GOOD_ROWS))
    (tmp_path / "B.csv").write_text(csv_text(*GOOD_ROWS))
    source = DirectorySource(tmp_path)
    assert isinstance(source, BarSource)
    everything = source.fetch(None, date(2024, 1, 1), date(2025, 1, 1))
    assert everything["symbol"].unique().sort().to_list() == ["A", "B"]
    assert everything.equals(load_bar_directory(tmp_path))  # one scan == file by file
    pl.read_csv(tmp_path / "B.csv").write_parquet(tmp_path / "P.parquet")  # mixed: per file
    assert source.fetch(["P"], date(2024, 1, 1), date(2025, 1, 1))["symbol"].unique().to_list() == [
        "P"
    ]
    (tmp_path / "P.parquet").unlink()
    first_day = everything["timestamp"].min().date()
    one_day = source.fetch(["B", "MISSING"], first_day, date.fromordinal(first_day.toordinal() + 1))
    assert one_day["symbol"].to_list() == ["B"] and one_day.height == 1
    (tmp_path / "C.csv").write_text(
        "timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,x,3\n"
    )
    with pytest.raises(BarValidationError, match=r"C.csv, row 1, column 'close'"):
        source.fetch(None, date(2024, 1, 1), date(2025, 1, 1))
    with pytest.raises(ValueError, match="holds '1d' bars, not '1m'"):
        source.fetch(None, date(2024, 1, 1), date(2025, 1, 1), "1m")
