"""A directory of per-symbol CSV / Parquet bar files as a bar source.

Files are loaded with :func:`quant_engine.data.loaders.load_bar_files` (one reader, so CSV and
Parquet follow the same rules; files alike are parsed in one pass), and any problem is one
error naming the file, row, column and value. Daily bars are labelled by their session date in
the calendar's time zone. Requested symbols must be plain names (no path separators); a
requested symbol without a file is logged and left out (the ingest's ``missing_symbols`` check
decides what that means).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from quant_engine.data.calendars import calendar_for
from quant_engine.data.loaders import FileLayout, bar_files, check_symbol, load_bar_files
from quant_engine.data.sources.base import Timeframe
from quant_engine.data.sources.frames import note_missing
from quant_engine.data.store import bar_day


@dataclass(frozen=True)
class DirectorySourceConfig:
    """The directory, the timeframe its files hold, the calendar of its sessions and how its
    files are laid out (see :class:`quant_engine.data.loaders.FileLayout`)."""

    directory: Path
    timeframe: Timeframe = "1d"
    calendar: str = "XNYS"
    timestamp_format: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    adj_close: Literal["drop", "adjust"] = "drop"

    def layout(self) -> FileLayout:
        daily = self.timeframe == "1d"
        return FileLayout(
            timestamp_format=self.timestamp_format,
            columns=self.columns,
            adj_close=self.adj_close,
            session_timezone=calendar_for(self.calendar).timezone if daily else None,
        )


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
        files = bar_files(self.config.directory)
        if symbols is not None:
            wanted = [check_symbol(s) for s in symbols]
            note_missing(f"{self.name} {self.config.directory}", wanted, files)
            files = {s: files[s] for s in wanted if s in files}
        bars = load_bar_files(files, self.config.layout())
        return bars.filter(bar_day().is_between(start, end, closed="left"))
