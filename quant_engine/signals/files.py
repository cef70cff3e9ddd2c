"""Write and read signal files (Parquet and CSV, written atomically)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl

from quant_engine.io.atomic import atomic_path

SIGNAL_COLUMNS = ["timestamp", "symbol", "score", "model_version"]


def _signal_columns(signals: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
    if missing:
        raise ValueError(f"signals lack column(s) {missing}")
    return signals.select(SIGNAL_COLUMNS).sort("timestamp", "symbol")


def write_signal_files(signals: pl.DataFrame, directory: str | Path, stem: str = "signals"):
    """Write ``signals`` as ``<stem>.parquet`` and ``<stem>.csv``; returns both paths."""
    frame = _signal_columns(signals)
    directory = Path(directory)
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    with atomic_path(parquet) as tmp_parquet, atomic_path(csv) as tmp_csv:
        frame.write_parquet(tmp_parquet)
        frame.write_csv(tmp_csv)
    return parquet, csv


def extend_signal_files(
    stored: pl.DataFrame, newer: pl.DataFrame, directory: str | Path, stem: str = "signals"
) -> tuple[Path, Path, pl.DataFrame]:
    """Extend the signal files holding ``stored`` (as :func:`write_signal_files` wrote them)
    by ``newer``, whose rows all come after the stored ones; returns both paths and the whole
    frame. The files equal what :func:`write_signal_files` writes for the whole frame: the
    Parquet file is written again from ``stored`` and ``newer`` (no sort), and the CSV is the
    stored file's bytes, copied by the kernel, with the new rows appended (no rows formatted
    again), each replaced atomically. A CSV that does not end with the last stored row (missing,
    or left behind by a writer that died between the two files) is written whole."""
    newer = _signal_columns(newer)
    if stored.height and newer.height and newer["timestamp"].min() <= stored["timestamp"].max():
        raise ValueError("the new signals must come after the stored ones")
    stored = stored.select(SIGNAL_COLUMNS)
    frame = pl.concat([stored, newer])
    directory = Path(directory)
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    with atomic_path(parquet) as tmp_parquet, atomic_path(csv) as tmp_csv:
        frame.write_parquet(tmp_parquet)
        if _ends_with(csv, stored.tail(1).write_csv(include_header=False).encode()):
            shutil.copyfile(csv, tmp_csv)
            with tmp_csv.open("ab") as handle:
                newer.write_csv(handle, include_header=False)
        else:
            frame.write_csv(tmp_csv)
    return parquet, csv, frame


def _ends_with(path: Path, tail: bytes) -> bool:
    """Whether the file ``path`` exists and its last bytes are ``tail`` (not empty)."""
    if not tail or not path.is_file() or path.stat().st_size < len(tail):
        return False
    with path.open("rb") as handle:
        handle.seek(-len(tail), os.SEEK_END)
        return handle.read() == tail


def read_signal_file(path: str | Path) -> pl.DataFrame:
    """Read a signal file written by :func:`write_signal_files` (either format)."""
    path = Path(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, try_parse_dates=True).with_columns(
            pl.col("timestamp").dt.convert_time_zone("UTC")
        )
    return pl.read_parquet(path)


def read_score_table(path: str | Path, score: str = "score") -> pl.DataFrame:
    """``timestamp, symbol, score`` from any Parquet or CSV table with those columns (the score
    read from column ``score``), checked: one ``ValueError`` naming the file, the column and the
    first bad value. A date is midnight UTC; a time without a zone is UTC; a null or NaN score
    is no score."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"signal file {path} does not exist")
    try:
        if path.suffix == ".csv":
            frame = pl.read_csv(path, try_parse_dates=True)
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            raise ValueError("expected a .parquet or .csv file")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ValueError(f"signal file {path}: unreadable: {' '.join(str(exc).split())}") from exc
    missing = [c for c in ("timestamp", "symbol", score) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"signal file {path}: no column(s) {missing} (it has {frame.columns}; name the score "
            "column with strategy.score)"
        )
    frame = frame.select("timestamp", "symbol", pl.col(score).alias("score"))
    stamp = frame.schema["timestamp"]
    if stamp == pl.Date:
        frame = frame.with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    elif not isinstance(stamp, pl.Datetime):
        first = frame["timestamp"].drop_nulls().head(1).to_list()
        raise ValueError(
            f"signal file {path}: column timestamp: expected dates or times, got {stamp} "
            f"(first value {first[0] if first else None!r})"
        )
    utc = pl.col("timestamp").dt
    frame = frame.with_columns(
        (
            utc.replace_time_zone("UTC")
            if frame.schema["timestamp"].time_zone is None
            else utc.convert_time_zone("UTC")
        ).dt.cast_time_unit("us")
    )
    if not frame.schema["score"].is_numeric():
        bad = frame["score"].drop_nulls().head(1).to_list()
        raise ValueError(
            f"signal file {path}: column {score}: expected numbers, got {frame.schema['score']} "
            f"(first value {bad[0] if bad else None!r})"
        )
    frame = frame.with_columns(pl.col("symbol").cast(pl.String), pl.col("score").cast(pl.Float64))
    for column in ("timestamp", "symbol"):
        nulls = frame[column].is_null()
        if nulls.any():
            raise ValueError(f"signal file {path}: column {column}: empty at row {nulls.arg_max()}")
    infinite = frame["score"].is_infinite()
    if infinite.any():
        row = infinite.arg_max()
        raise ValueError(
            f"signal file {path}: column {score}: {frame['score'][row]} at row {row} is not a "
            "finite number"
        )
    repeated = frame.select("timestamp", "symbol").is_duplicated()
    if repeated.any():
        row = frame.row(repeated.arg_max(), named=True)
        raise ValueError(
            f"signal file {path}: more than one score for {row['symbol']} at {row['timestamp']}"
        )
    return frame.sort("timestamp", "symbol")


def align_scores(
    scores: pl.DataFrame, bars: pl.DataFrame, path: str | Path, selected: bool = False
) -> pl.DataFrame:
    """The rows of ``scores`` (from :func:`read_score_table`) that ``bars`` can trade.

    Scores before the first bar or after the last one are not used. Inside that span, a score
    at a timestamp with no bar, or (unless ``selected``: the bars are a chosen subset of
    symbols) for a symbol without bars, is an error naming the first one: such a file does not
    belong to these bars.
    """
    first, last = bars["timestamp"].min(), bars["timestamp"].max()
    inside = scores.filter(pl.col("timestamp").is_between(first, last))
    known = bars["symbol"].unique()
    if selected:
        inside = inside.filter(pl.col("symbol").is_in(known.implode()))
    else:
        strangers = sorted(set(inside["symbol"].unique()) - set(known))
        if strangers:
            raise ValueError(
                f"signal file {path}: {len(strangers)} symbol(s) without bars in the data: "
                f"{strangers[:5]} (select the symbols to trade with data.symbols)"
            )
    stamps = bars["timestamp"].unique()
    off = inside.filter(~pl.col("timestamp").is_in(stamps.implode()))
    if off.height:
        raise ValueError(
            f"signal file {path}: {off['timestamp'].n_unique()} timestamp(s) between the first and "
            f"the last bar are not bar timestamps, the first {off['timestamp'][0]}"
        )
    if inside.is_empty():
        raise ValueError(
            f"signal file {path}: no score at the bars' timestamps (bars {first} to {last}, "
            f"scores {scores['timestamp'].min()} to {scores['timestamp'].max()})"
        )
    return inside
