"""A partitioned Parquet bar store: one file per trading day, replaced atomically.

Layout: ``<root>/<YYYY-MM-DD>.parquet``, one file per session day (the UTC date of the bars'
timestamps), rows sorted by (symbol, timestamp) in the canonical bar schema. A day is written to
a temporary file in a hidden staging directory beside ``root`` and renamed into place, so a
reader (or a crash, even SIGKILL) never sees half a file, and ``root`` only ever holds complete
day files: ``pl.read_parquet(root)`` reads the whole store. The same bars always give the same
bytes. ``scan`` reads every partition lazily with polars, so callers filter and project first.
Corporate actions, when stored, sit beside ``root`` in ``<name>_corporate_actions.parquet``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA, KEYS
from quant_engine.io.atomic import atomic_path

SUFFIX = ".parquet"


def bar_day(timestamp: pl.Expr | str = "timestamp") -> pl.Expr:
    """The partition day of a bar: the UTC date of its timestamp."""
    expr = pl.col(timestamp) if isinstance(timestamp, str) else timestamp
    return expr.dt.convert_time_zone("UTC").dt.date()


@dataclass(frozen=True)
class BarStoreConfig:
    """Where the store lives and how its files are encoded (fixed: deterministic bytes)."""

    root: Path
    compression: str = "zstd"
    compression_level: int = 3


class BarStore:
    """Daily partitions of canonical bars under one directory."""

    def __init__(self, config: BarStoreConfig | str | Path) -> None:
        if not isinstance(config, BarStoreConfig):
            config = BarStoreConfig(Path(config))
        self.config = config
        self.root = Path(config.root)

    @property
    def staging(self) -> Path:
        """Where files are written before they are renamed into ``root`` (same file system)."""
        return self.root.parent / f".{self.root.name}.staging"

    @property
    def actions_path(self) -> Path:
        return self.root.parent / f"{self.root.name.removesuffix(SUFFIX)}_corporate_actions.parquet"

    def path(self, day: date) -> Path:
        """The file holding ``day``'s bars."""
        return self.root / f"{day.isoformat()}{SUFFIX}"

    def days(self) -> list[date]:
        """The days stored, oldest first (temporary files of unfinished writes are ignored)."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob(f"*{SUFFIX}"):
            try:
                found.append(date.fromisoformat(path.stem))
            except ValueError:
                continue
        return sorted(found)

    def write_day(self, day: date, bars: pl.DataFrame) -> Path:
        """Replace ``day``'s partition with ``bars`` (all of which must fall on ``day``)."""
        frame = bars.select(BAR_COLUMNS).cast(BAR_SCHEMA)
        off_day = frame.filter(bar_day() != day)
        if off_day.height:
            first = off_day.row(0, named=True)
            raise ValueError(
                f"bar store: {off_day.height} bar(s) do not fall on {day}, e.g."
                f" {first['symbol']} at {first['timestamp']}"
            )
        target = self.path(day)
        with atomic_path(target, self.staging) as tmp:
            frame.sort(KEYS).write_parquet(
                tmp,
                compression=self.config.compression,
                compression_level=self.config.compression_level,
                statistics=True,
            )
        return target

    def write(self, bars: pl.DataFrame, days: Iterable[date] | None = None) -> list[Path]:
        """Write ``bars`` one partition per day; ``days`` also writes empty partitions.

        Pass ``days`` (e.g. every session of a backfill) so that a session without bars is
        stored as an empty partition instead of being left out.
        """
        parts = bars.with_columns(bar_day().alias("_day")).partition_by(
            "_day", as_dict=True, include_key=False
        )
        by_day = {key[0]: part for key, part in parts.items()}
        wanted = sorted(set(by_day) | set(days or ()))
        empty = pl.DataFrame(schema=BAR_SCHEMA)
        return [self.write_day(day, by_day.get(day, empty)) for day in wanted]

    def write_actions(self, actions: pl.DataFrame) -> Path:
        """Store the corporate actions (symbol, ex_date, split_ratio, dividend) beside the bars."""
        target = self.actions_path
        with atomic_path(target, self.staging) as tmp:
            actions.sort("symbol", "ex_date").write_parquet(tmp, statistics=True)
        return target

    def actions(self) -> pl.DataFrame | None:
        """The stored corporate actions, or None when there are none."""
        path = self.actions_path
        return pl.read_parquet(path) if path.is_file() else None

    def scan(self, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """All partitions with ``start <= day < end`` (either bound optional), lazily."""
        paths = [
            str(self.path(day))
            for day in self.days()
            if (start is None or day >= start) and (end is None or day < end)
        ]
        if not paths:
            return pl.LazyFrame(schema=BAR_SCHEMA)
        return pl.scan_parquet(paths, schema=BAR_SCHEMA)

    def read(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The bars of ``start <= day < end``, sorted by (symbol, timestamp)."""
        return self.scan(start, end).sort(KEYS).collect()
