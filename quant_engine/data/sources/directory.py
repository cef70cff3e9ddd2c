"""A directory of per-symbol CSV / Parquet bar files as a bar source.

A directory of CSV files is read in one multi-threaded polars scan, sliced to the asked sessions
and symbols, then validated; if anything in it does not parse or validate, the files are loaded
one by one with :func:`quant_engine.data.loaders.load_bar_directory`, whose error names the
file, row, column and value. Directories holding Parquet files take that path directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from quant_engine.data.loaders import FILE_COLUMNS, SUFFIXES, load_bar_directory, load_bar_file
from quant_engine.data.schema import BAR_SCHEMA, BarValidationError, validate_bars
from quant_engine.data.sources.base import Timeframe
from quant_engine.data.store import bar_day


@dataclass(frozen=True)
class DirectorySourceConfig:
    """The directory, the timeframe its files hold and the calendar of its sessions."""

    directory: Path
    timeframe: Timeframe = "1d"
    calendar: str = "XNYS"


class DirectorySource:
    """Bars from ``<directory>/<SYMBOL>.csv|.parquet`` files."""

    name = "directory"

    def __init__(self, config: DirectorySourceConfig | str | Path) -> None:
        if not isinstance(config, DirectorySourceConfig):
            config = DirectorySourceConfig(Path(config))
        self.config = config
        self.calendar = config.calendar

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars with ``start <= day < end`` (end exclusive) for ``symbols`` (None: every file)."""
        if timeframe != self.config.timeframe:
            raise ValueError(
                f"directory source {self.config.directory}: holds {self.config.timeframe!r}"
                f" bars, not {timeframe!r}"
            )
        if end < start:
            raise ValueError(f"directory source: end {end} is before start {start}")
        directory = Path(self.config.directory)
        in_range = bar_day().is_between(start, end, closed="left")
        fast = _scan_csv_directory(directory, symbols, in_range)
        if fast is not None:
            return fast
        if symbols is None:
            bars = load_bar_directory(directory)
        else:
            bars = self._load_symbols(directory, symbols)
        return bars.filter(in_range)

    @staticmethod
    def _load_symbols(directory: Path, symbols: Sequence[str]) -> pl.DataFrame:
        if not directory.is_dir():
            raise BarValidationError(str(directory), "is not a directory")
        frames = []
        for symbol in symbols:
            paths = [directory / f"{symbol}{suffix}" for suffix in SUFFIXES]
            found = [p for p in paths if p.is_file()]
            if len(found) > 1:
                raise BarValidationError(str(found[1]), f"symbol {symbol!r} is also in {found[0]}")
            if found:
                frames.append(load_bar_file(found[0], symbol))
        if not frames:
            return pl.DataFrame(schema=BAR_SCHEMA)
        return pl.concat(frames).sort("symbol", "timestamp")


def _scan_csv_directory(
    directory: Path, symbols: Sequence[str] | None, in_range: pl.Expr
) -> pl.DataFrame | None:
    """The range's bars from one scan of every CSV file, or None when the per-file loader
    must run instead (Parquet files, a missing directory, or anything that fails to parse)."""
    if not directory.is_dir():
        return None
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files or any(p.suffix != ".csv" for p in files):
        return None
    if symbols is not None:
        wanted = set(symbols)
        files = [p for p in files if p.stem in wanted]
        if not files:
            return pl.DataFrame(schema=BAR_SCHEMA)
    try:
        raw = pl.scan_csv(
            [str(p) for p in files], infer_schema=False, include_file_paths="_path"
        ).collect()
    except (pl.exceptions.PolarsError, OSError):
        return None
    if any(c not in raw.columns for c in FILE_COLUMNS) or raw["_path"].n_unique() < len(files):
        return None  # a missing column, or a file without rows
    stamps = raw["timestamp"].str.strip_chars().str.to_datetime(strict=False, time_unit="us")
    if not isinstance(stamps.dtype, pl.Datetime):
        return None
    if stamps.dtype.time_zone is None:
        stamps = stamps.dt.replace_time_zone("UTC")
    parsed = raw.select(
        pl.col("_path").replace_strict({str(p): p.stem for p in files}).alias("symbol"),
        stamps.dt.convert_time_zone("UTC").alias("timestamp"),
        *(
            pl.col(c).str.strip_chars().cast(pl.Float64, strict=False)
            for c in ("open", "high", "low", "close", "volume")
        ),
    )
    if parsed.null_count().sum_horizontal().item() or parsed.height == 0:
        return None
    wanted_rows = parsed.filter(in_range)
    if wanted_rows.height == 0:
        return pl.DataFrame(schema=BAR_SCHEMA)
    try:
        return validate_bars(wanted_rows, source=str(directory))
    except BarValidationError:
        return None
