"""A partitioned Parquet bar store: one file per trading day, committed whole, one writer at once.

Layout beside ``root`` (e.g. ``assets/raw_bars.parquet``):

- ``root`` is a symbolic link to the current *generation*, ``.<name>.versions/<n>/``, a folder
  of ``<YYYY-MM-DD>.parquet`` files (rows sorted by (symbol, timestamp), canonical schema), so
  ``pl.read_parquet(root)`` reads the whole store.
- A write (:meth:`BarStore.write`) builds the next generation in ``.<name>.versions/<n>.building``
  (unchanged days are hard links, so they keep their bytes and mtimes), then swaps the link in one
  ``rename``: a reader sees the old store or the new one, never a mix, and a writer killed at any
  point (SIGKILL included) leaves the previous store as it was. The next write removes what a
  killed one left (unfinished generations, temporary files in ``.<name>.staging``).
- ``.<name>.lock`` serialises writers (``fcntl`` lock): a second writer waits up to
  ``lock_timeout_s`` and then fails naming the process holding it.
- Corporate actions, when stored, sit beside ``root`` in ``<name>_corporate_actions.parquet``.
- ``<name>_symbols.json`` beside ``root`` counts, per symbol, the days of the current generation
  that hold it (each write updates it from the days it replaces), so that :meth:`symbols` reads
  no day file; one left by another generation is not used (the files are counted instead).

The same bars always give the same bytes. ``scan`` reads one generation lazily (the previous one
is kept until the next write; :meth:`read` starts again if writers remove it under it), so
callers filter and project first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA, KEYS
from quant_engine.io.atomic import atomic_path

SUFFIX = ".parquet"
BUILDING = ".building"
WRITE_DAYS = 32  # days a write gathers from its frame at once


def bar_day(timestamp: pl.Expr | str = "timestamp") -> pl.Expr:
    """The partition day of a bar: the UTC date of its timestamp."""
    expr = pl.col(timestamp) if isinstance(timestamp, str) else timestamp
    return expr.dt.convert_time_zone("UTC").dt.date()


def _symbol_day_counts(frame: pl.DataFrame) -> Counter[str]:
    """Per symbol, the number of UTC days of ``frame`` (one stored file each) that hold it."""
    if frame.height == 0:
        return Counter()
    counts = frame.group_by("symbol").agg(bar_day().n_unique().alias("days"))
    return Counter(dict(zip(counts["symbol"], counts["days"], strict=True)))


class StoreLockedError(RuntimeError):
    """Another process is writing the store and did not finish in time."""


@dataclass(frozen=True)
class BarStoreConfig:
    """Where the store lives, how its files are encoded (fixed: deterministic bytes) and how
    long a writer waits for another one to finish."""

    root: Path
    compression: str = "zstd"
    compression_level: int = 3
    lock_timeout_s: float = 600.0


class BarStore:
    """Daily partitions of canonical bars under one directory."""

    def __init__(self, config: BarStoreConfig | str | Path) -> None:
        if not isinstance(config, BarStoreConfig):
            config = BarStoreConfig(Path(config))
        self.config = config
        self.root = Path(config.root)

    def _beside(self, what: str) -> Path:
        return self.root.parent / f".{self.root.name}.{what}"

    @property
    def staging(self) -> Path:
        """Where single files are written before they are renamed into place."""
        return self._beside("staging")

    @property
    def versions(self) -> Path:
        """The folder of generations; ``root`` links to the current one."""
        return self._beside("versions")

    @property
    def lock_path(self) -> Path:
        return self._beside("lock")

    @property
    def actions_path(self) -> Path:
        return self.root.parent / f"{self.root.name.removesuffix(SUFFIX)}_corporate_actions.parquet"

    @property
    def symbols_path(self) -> Path:
        return self.root.parent / f"{self.root.name.removesuffix(SUFFIX)}_symbols.json"

    def path(self, day: date) -> Path:
        """The file holding ``day``'s bars."""
        return self.root / f"{day.isoformat()}{SUFFIX}"

    def snapshot(self) -> Path | None:
        """The current generation's folder (None: nothing stored yet)."""
        if not self.root.is_dir():
            return None
        return self.root.resolve()

    @staticmethod
    def _days_in(folder: Path | None) -> list[date]:
        if folder is None:
            return []
        found = []
        for name in os.listdir(folder):  # names only: no path objects for years of days
            if name.endswith(SUFFIX):
                try:
                    found.append(date.fromisoformat(name.removesuffix(SUFFIX)))
                except ValueError:
                    continue
        return sorted(found)

    def days(self) -> list[date]:
        """The days stored, oldest first."""
        return self._days_in(self.snapshot())

    def symbols(self) -> list[str]:
        """The symbols stored on any day, sorted."""
        return sorted(self._symbol_days(self.snapshot()))

    def _symbol_days(self, folder: Path | None) -> Counter[str]:
        """How many of generation ``folder``'s days hold each symbol (the record written with
        it, else counted from its files)."""
        if folder is None:
            return Counter()
        if self.symbols_path.is_file():
            found = json.loads(self.symbols_path.read_text())
            if found.get("generation") == int(folder.name):
                return Counter(found["symbol_days"])
        return self._count_symbol_days(folder, self._days_in(folder))

    def _count_symbol_days(self, folder: Path, days: list[date]) -> Counter[str]:
        paths = [str(folder / f"{day.isoformat()}{SUFFIX}") for day in days]
        if not paths:
            return Counter()
        frame = pl.scan_parquet(paths, schema=self._empty().schema or None)
        return _symbol_day_counts(frame.select(KEYS).collect())

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's writer lock (waits up to ``lock_timeout_s`` for another writer)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as handle:
            deadline = time.monotonic() + self.config.lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another process"
                        raise StoreLockedError(
                            f"bar store {self.root}: {holder} has been writing it for over"
                            f" {self.config.lock_timeout_s:g} s (lock {self.lock_path});"
                            " try again when it has finished"
                        ) from None
                    time.sleep(0.05)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()}\n")
                handle.flush()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _clean(self, keep: set[str]) -> None:
        """Remove what killed writers left and generations older than ``keep`` (lock held)."""
        if self.staging.is_dir():
            shutil.rmtree(self.staging)
        if self.versions.is_dir():
            for entry in self.versions.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for leftover in self.root.parent.glob(f".{self.root.name}.link*"):
            leftover.unlink()

    def _current(self) -> Path | None:
        """The current generation, turning a plain folder (older layout) into one (lock held)."""
        if self.root.is_symlink():
            return self.root.resolve()
        if not self.root.exists():
            return None
        self.versions.mkdir(parents=True, exist_ok=True)
        first = self.versions / f"{0:08d}"
        os.rename(self.root, first)
        self._link(first)
        return first

    def _link(self, generation: Path) -> None:
        link = self.root.parent / f".{self.root.name}.link"
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(generation, self.root.parent))
        os.replace(link, self.root)

    def _canonical(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` in the stored schema (bars: the canonical bar columns and types)."""
        return frame.select(BAR_COLUMNS).cast(BAR_SCHEMA)

    def _empty(self) -> pl.DataFrame:
        """What an empty day's file holds."""
        return pl.DataFrame(schema=BAR_SCHEMA)

    def generation(self) -> int | None:
        """The number of the current generation (None: nothing stored yet); each write adds 1."""
        folder = self.snapshot()
        return None if folder is None else int(folder.name)

    def _write_file(self, frame: pl.DataFrame, path: Path) -> None:
        frame.sort(KEYS).write_parquet(
            path,
            compression=self.config.compression,
            compression_level=self.config.compression_level,
            statistics=True,
        )

    def write(
        self,
        bars: pl.DataFrame,
        days: Iterable[date] | None = None,
        actions: pl.DataFrame | None = None,
        replace_all: bool = False,
    ) -> list[Path]:
        """Replace the partitions of ``bars``' days (and of ``days``: a session without bars is
        stored empty) in one commit; with ``actions``, store the corporate actions too; with
        ``replace_all``, drop every other day.

        Either every partition is replaced or, when the writer dies or fails, none is. The
        rows of ``WRITE_DAYS`` days at a time are gathered from ``bars`` while writing, so a
        write holds little more than ``bars`` itself.
        """
        frame = self._canonical(bars)
        row_day = frame.select(bar_day())["timestamp"]
        wanted = sorted(set(row_day.unique().to_list()) | set(days or ()))
        empty = self._empty()
        with self.lock():
            current = self._current()
            counts = _symbol_day_counts(frame)
            if current is not None and not replace_all:
                replaced_days = [
                    d for d in wanted if (current / f"{d.isoformat()}{SUFFIX}").exists()
                ]
                counts += self._symbol_days(current) - self._count_symbol_days(
                    current, replaced_days
                )
            previous = {current.name} if current is not None else set()
            self._clean(previous)
            number = int(current.name) + 1 if current is not None else 0
            building = self.versions / f"{number:08d}{BUILDING}"
            building.mkdir(parents=True)
            replaced = {f"{day.isoformat()}{SUFFIX}" for day in wanted}
            if current is not None and not replace_all:
                for name in os.listdir(current):
                    if name not in replaced:
                        os.link(os.path.join(current, name), os.path.join(building, name))
            for at in range(0, len(wanted), WRITE_DAYS):
                chunk = wanted[at : at + WRITE_DAYS]
                rows = frame.filter(row_day.is_between(chunk[0], chunk[-1]))
                parts = rows.with_columns(bar_day().alias("_day")).partition_by(
                    "_day", as_dict=True, include_key=False
                )
                del rows
                for written in chunk:
                    part = parts.pop((written,), empty)
                    self._write_file(part, building / f"{written.isoformat()}{SUFFIX}")
            if actions is not None:
                self._write_actions(actions)
            final = building.with_name(f"{number:08d}")
            os.rename(building, final)
            self._link(final)
            with atomic_path(self.symbols_path, self.staging) as tmp:
                record = {"generation": number, "symbol_days": dict(sorted(counts.items()))}
                Path(tmp).write_text(json.dumps(record))
        return [self.path(day) for day in wanted]

    def write_day(self, day: date, bars: pl.DataFrame) -> Path:
        """Replace ``day``'s partition with ``bars`` (all of which must fall on ``day``)."""
        off_day = bars.filter(bar_day() != day)
        if off_day.height:
            first = off_day.row(0, named=True)
            raise ValueError(
                f"bar store: {off_day.height} bar(s) do not fall on {day}, e.g."
                f" {first['symbol']} at {first['timestamp']}"
            )
        return self.write(bars, days=[day])[0]

    def _write_actions(self, actions: pl.DataFrame) -> Path:
        target = self.actions_path
        with atomic_path(target, self.staging) as tmp:
            actions.sort("symbol", "ex_date").write_parquet(tmp, statistics=True)
        return target

    def write_actions(self, actions: pl.DataFrame) -> Path:
        """Store the corporate actions (symbol, ex_date, split_ratio, dividend) beside the bars."""
        with self.lock():
            return self._write_actions(actions)

    # -- reading -------------------------------------------------------------------------------

    def actions(self) -> pl.DataFrame | None:
        """The stored corporate actions, or None when there are none."""
        path = self.actions_path
        return pl.read_parquet(path) if path.is_file() else None

    def actions_digest(self) -> str:
        """A digest of the stored corporate actions ("" when there are none): what the
        adjusted bars of every day depend on besides the day's own bars."""
        actions = self.actions()
        if actions is None:
            return ""
        return hashlib.sha256(actions.write_ipc(None).getvalue()).hexdigest()

    def written_ns(self, before: date) -> int:
        """The latest modification time of the stored files of days before ``before`` (a
        rewrite of such a day moves it; a write of other days keeps the files, hard-linked)."""
        stamps = [self.path(day).stat().st_mtime_ns for day in self.days() if day < before]
        return max(stamps, default=0)

    def scan(self, start: date | None = None, end: date | None = None) -> pl.LazyFrame:
        """All partitions with ``start <= day < end`` (either bound optional), lazily, from one
        generation."""
        folder = self.snapshot()
        paths = [
            str(folder / f"{day.isoformat()}{SUFFIX}")
            for day in self._days_in(folder)
            if (start is None or day >= start) and (end is None or day < end)
        ]
        schema = self._empty().schema
        if not paths:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(paths, schema=schema or None)

    def scan_parts(self, days: int) -> list[pl.LazyFrame]:
        """Every stored day lazily, ``days`` consecutive days to a part, from one generation."""
        folder = self.snapshot()
        paths = [str(folder / f"{day.isoformat()}{SUFFIX}") for day in self._days_in(folder)]
        schema = self._empty().schema or None
        return [
            pl.scan_parquet(paths[at : at + days], schema=schema)
            for at in range(0, len(paths), days)
        ]

    def read(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The bars of ``start <= day < end``, sorted by (symbol, timestamp), from one generation
        (read again from the new one when writers replaced it twice during the read)."""
        while True:
            folder = self.snapshot()
            try:
                return self.scan(start, end).sort(KEYS).collect()
            except FileNotFoundError:
                if self.snapshot() == folder:
                    raise


class DayFrameStore(BarStore):
    """Any frame keyed by (symbol, timestamp), one file per UTC day, with the bar store's
    generations, atomic commits and writer lock; its schema is whatever was written (a write
    with ``replace_all`` may change it).

    A JSON *state* (what the frame was built from, so that a writer knows whether it can extend
    it) sits beside ``root`` in ``<name>_state.json``, tagged with the generation it describes:
    a state left by another generation (a writer killed between its commit and the state) reads
    as None.
    """

    def _canonical(self, frame: pl.DataFrame) -> pl.DataFrame:
        missing = [key for key in KEYS if key not in frame.columns]
        if missing:
            raise ValueError(f"day store {self.root}: the frame lacks key column(s) {missing}")
        return frame

    def _empty(self) -> pl.DataFrame:
        return pl.DataFrame()

    @property
    def state_path(self) -> Path:
        return self.root.parent / f"{self.root.name.removesuffix(SUFFIX)}_state.json"

    def _current(self) -> Path | None:
        if self.root.is_file() and not self.root.is_symlink():  # one file (an older layout)
            self.root.unlink()
        return super()._current()

    def state(self) -> dict | None:
        """The state written with the current generation (None: none, or another one's)."""
        if not self.state_path.is_file():
            return None
        found = json.loads(self.state_path.read_text())
        return found.get("state") if found.get("generation") == self.generation() else None

    def write_state(self, state: dict) -> Path:
        """Record ``state`` as describing the current generation."""
        payload = {"generation": self.generation(), "state": state}
        with atomic_path(self.state_path, self.staging) as tmp:
            Path(tmp).write_text(json.dumps(payload, sort_keys=True, default=str))
        return self.state_path

    def read(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The rows of ``start <= day < end`` sorted by (symbol, timestamp); a store written as
        one Parquet file (an older layout) is read whole and filtered."""
        if self.root.is_file():
            frame = pl.read_parquet(self.root)
            day = bar_day()
            if start is not None:
                frame = frame.filter(day >= start)
            if end is not None:
                frame = frame.filter(day < end)
            return frame.sort(KEYS)
        if not self._days_in(self.snapshot()):
            return pl.DataFrame()
        return super().read(start, end)

    def days(self) -> list[date]:
        if self.root.is_file():
            return sorted(
                pl.read_parquet(self.root, columns=["timestamp"])
                .select(bar_day().unique())["timestamp"]
                .to_list()
            )
        return super().days()
