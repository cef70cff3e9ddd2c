"""Write and read signal files (Parquet and CSV, written atomically)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.io.atomic import atomic_path

SIGNAL_COLUMNS = ["timestamp", "symbol", "score", "model_version"]


def write_signal_files(signals: pl.DataFrame, directory: str | Path, stem: str = "signals"):
    """Write ``signals`` as ``<stem>.parquet`` and ``<stem>.csv``; returns both paths."""
    missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
    if missing:
        raise ValueError(f"signals lack column(s) {missing}")
    frame = signals.select(SIGNAL_COLUMNS).sort("timestamp", "symbol")
    directory = Path(directory)
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    with atomic_path(parquet) as tmp_parquet, atomic_path(csv) as tmp_csv:
        frame.write_parquet(tmp_parquet)
        frame.write_csv(tmp_csv)
    return parquet, csv


def read_signal_file(path: str | Path) -> pl.DataFrame:
    """Read a signal file written by :func:`write_signal_files` (either format)."""
    path = Path(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, try_parse_dates=True).with_columns(
            pl.col("timestamp").dt.convert_time_zone("UTC")
        )
    return pl.read_parquet(path)
