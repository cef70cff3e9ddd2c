from datetime import UTC, datetime

import polars as pl
import pytest

from quant_engine.signals import extend_signal_files, read_signal_file, write_signal_files


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


def test_extended_files_equal_the_whole_frame_written_at_once(tmp_path):
    stamps = [datetime(2024, 1, day, tzinfo=UTC) for day in (2, 2, 3, 3, 4, 4)]
    whole = pl.DataFrame(
        {
            "timestamp": stamps,
            "symbol": ["A", "B"] * 3,
            "score": [0.5, -0.25, 1e-20, float("nan"), 3.0, -1.5],
            "model_version": ["m/1"] * 6,
        }
    )
    write_signal_files(whole, tmp_path / "once")
    first, newer = whole.head(2), whole.tail(4).reverse()  # two new days, in any order
    write_signal_files(first, tmp_path / "extended")
    parquet, csv, frame = extend_signal_files(first, newer, tmp_path / "extended")
    assert frame.equals(whole)
    assert csv.read_bytes() == (tmp_path / "once" / "signals.csv").read_bytes()
    assert read_signal_file(parquet).equals(read_signal_file(tmp_path / "once" / "signals.parquet"))
    # A CSV that does not end with the stored rows (a writer died between the two files) is
    # written whole; new rows that do not come after the stored ones are refused.
    csv.write_text(csv.read_text().splitlines()[0] + "\n")
    extend_signal_files(whole, whole.clear(), tmp_path / "extended")
    assert csv.read_bytes() == (tmp_path / "once" / "signals.csv").read_bytes()
    with pytest.raises(ValueError, match="after the stored ones"):
        extend_signal_files(whole, whole.tail(1), tmp_path / "extended")
