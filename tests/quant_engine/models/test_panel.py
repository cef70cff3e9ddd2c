import numpy as np
import polars as pl
import pytest

from quant_engine.models import Panel


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["A"] * 4 + ["B"] * 3,
            "timestamp": [1, 2, 3, 4, 1, 2, 3],
            "x": [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0],
            "y": [0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0],
        }
    )


def test_windows_hold_each_symbols_own_history():
    panel = Panel.from_frame(_frame(), ["x", "y"])
    windows = panel.windows(np.array([3, 4, 6]), lookback=3)
    assert windows.shape == (3, 3, 2)
    np.testing.assert_array_equal(windows[0, :, 0], [2.0, 3.0, 4.0])
    # B's first bar: the two earlier steps would be A's rows, so they are unknown.
    assert np.isnan(windows[1, :2]).all() and windows[1, 2, 0] == 10.0
    np.testing.assert_array_equal(windows[2, :, 1], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(panel.rows(np.array([5])), [[20.0, 2.0]])
    windows[0] = -1.0  # a batch is gathered, never a view into the panel
    assert panel.features.min() > 0


def test_unsorted_frames_are_refused():
    with pytest.raises(ValueError, match="sorted by symbol, then timestamp"):
        Panel.from_frame(_frame().reverse(), ["x"])


def test_a_panel_read_from_stored_days_shares_its_matrix_with_the_frame(tmp_path):
    from quant_engine.data.store import DayFrameStore

    frame = _frame().with_columns(
        pl.datetime(2024, 1, pl.col("timestamp")).alias("timestamp"),
        pl.col("x").cast(pl.Float32),
        pl.when(pl.col("y") > 1).then(None).otherwise(pl.col("y")).cast(pl.Float32).alias("y"),
        pl.lit(0.5).alias("label"),
    )
    store = DayFrameStore(tmp_path / "features.parquet")
    store.write(frame.sample(fraction=1.0, shuffle=True, seed=1), replace_all=True)
    read, panel = Panel.read(store.scan_parts(2), ["x", "y"])
    assert read.equals(frame)
    expected = Panel.from_frame(frame, ["x", "y"])
    np.testing.assert_array_equal(panel.features, expected.features)
    np.testing.assert_array_equal(panel.position, expected.position)
    panel.features[0, 0] = 7.0  # the frame's feature columns are views of the matrix
    assert read["x"][0] == 7.0
