from datetime import UTC, datetime

import polars as pl
import pytest

from quant_engine.signals import read_signal_file, write_signal_files


def _signals() -> pl.DataFrame:
    ts = [datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]
    return pl.DataFrame(
        {"timestamp": ts, "symbol": ["B", "A"], "score": [0.5, -0.25], "model_version": ["m/1"] * 2}
    )


def test_round_trip_in_both_formats(tmp_path):
    parquet, csv = write_signal_files(_signals(), tmp_path)
    expected = _signals().sort("timestamp", "symbol")
    assert read_signal_file(parquet).equals(expected)
    assert read_signal_file(csv).equals(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signals.csv", "signals.parquet"]


def test_bad_signals_leave_no_file(tmp_path):
    with pytest.raises(ValueError, match="model_version"):
        write_signal_files(_signals().drop("model_version"), tmp_path)
    # Parquet can hold a list column but CSV cannot: the second write fails after the first.
    bad = _signals().with_columns(pl.Series("score", [[0.5], [-0.25]]))
    with pytest.raises(pl.exceptions.ComputeError):
        write_signal_files(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []
