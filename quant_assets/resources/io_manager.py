"""Polars DataFrames stored as Parquet under ``QUANT_HOME/assets``, written atomically: one file
per asset, or one file per day (the daily-partitioned raw bars, and frames a run extends by
its new days, such as the features)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
from upath import UPath

from quant_engine.data.corporate_actions import adjusted_only
from quant_engine.data.store import BarStore, DayFrameStore
from quant_engine.io import atomic_path
from quant_engine.paths import QuantHome


class _ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame")
        with atomic_path(path) as tmp:
            obj.write_parquet(tmp)
        context.add_output_metadata({"rows": obj.height, "columns": obj.width})

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame | pl.LazyFrame:
        """The frame, or, for an input annotated ``pl.LazyFrame``, a lazy scan of it (the
        asset reads the rows and columns it needs)."""
        return pl.scan_parquet(path) if _wants(context, pl.LazyFrame) else pl.read_parquet(path)


class PolarsParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores each asset as ``<base_dir>/<asset key path>.parquet``; an input annotated
    ``pl.LazyFrame`` scans it lazily."""

    base_dir: str = ""  # default: QUANT_HOME/assets, resolved when a run starts

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIOManager:
        base = self.base_dir or str(QuantHome.resolve().assets)
        return _ParquetIOManager(base_path=UPath(base))


@dataclass(frozen=True)
class IngestedBars:
    """What a raw-bars partition run hands its IO manager: the bars, the partition days
    (stored even when empty) and the corporate actions known at ingest (None: none)."""

    bars: pl.DataFrame
    days: list[date]
    actions: pl.DataFrame | None = None


@dataclass(frozen=True)
class StoredBars:
    """The bar store handed to an asset whose input is annotated ``StoredBars``: it reads only
    the days it needs, adjusted for corporate actions as a whole-frame input is."""

    store: BarStore

    def days(self) -> list[date]:
        """The stored days, oldest first."""
        return self.store.days()

    def read(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The bars of ``start <= day < end`` (either bound optional), adjusted."""
        bars = self.store.read(start, end)
        actions = self.store.actions()
        return bars if actions is None else adjusted_only(bars, actions)


def _wants(context: dg.InputContext, kind: type) -> bool:
    """Whether the input is annotated ``kind`` (a handle on the store, not a loaded frame)."""
    try:
        dagster_type = context.dagster_type
    except dg.DagsterInvariantViolationError:  # a context built without one loads the frame
        return False
    return getattr(dagster_type, "typing_type", None) is kind


class _BarStoreIOManager(dg.IOManager):
    def __init__(self, base: Path) -> None:
        self.base = base

    def store(self, key: dg.AssetKey) -> BarStore:
        """The store of asset ``key`` (raw_bars reads what it would replace from it)."""
        return BarStore(self.base.joinpath(*key.path[:-1], f"{key.path[-1]}.parquet"))

    def handle_output(self, context: dg.OutputContext, obj: IngestedBars) -> None:
        if not isinstance(obj, IngestedBars):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected IngestedBars")
        store = self.store(context.asset_key)
        paths = store.write(obj.bars, days=obj.days, actions=obj.actions)  # one commit
        days = store.days()
        symbols = len(store.symbols())  # from the store's record: no day file is read
        context.add_output_metadata(
            {
                "rows": obj.bars.height,
                "files_written": len(paths),
                "stored_days": len(days),
                "stored_first_day": str(days[0]),
                "stored_last_day": str(days[-1]),
                "stored_symbols": symbols,
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | StoredBars:
        store = self.store(context.asset_key)
        if _wants(context, StoredBars):
            if not store.days():
                raise FileNotFoundError(
                    f"{context.asset_key.to_user_string()}: no stored bars in {store.root}:"
                    " materialize its partitions first"
                )
            return StoredBars(store)
        start = end = None
        if context.has_asset_partitions:
            window = context.asset_partitions_time_window
            start, end = window.start.date(), window.end.date()
        bars = store.read(start, end)
        if bars.height == 0:
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()}: no stored bars in {store.root}"
                f" between {start} and {end}: materialize its partitions first"
            )
        actions = store.actions()
        return bars if actions is None else adjusted_only(bars, actions)


class BarStoreIOManager(dg.ConfigurableIOManagerFactory):
    """Daily-partitioned bars as ``<base_dir>/<asset>.parquet/<YYYY-MM-DD>.parquet``.

    Commits a run's partition days (and its corporate actions) at once, one writer at a time
    (see :class:`quant_engine.data.store.BarStore`);
    a downstream asset reads every stored day of its upstream window in one lazy scan, split-
    and dividend-adjusted when corporate actions were stored with the bars.
    """

    base_dir: str = ""  # default: QUANT_HOME/assets, resolved when a run starts

    def create_io_manager(self, context: dg.InitResourceContext) -> _BarStoreIOManager:
        return _BarStoreIOManager(Path(self.base_dir or QuantHome.resolve().assets))


@dataclass(frozen=True)
class DailyFrame:
    """What an asset stored per day hands its IO manager: the rows of the days it computed
    (each replaces that day's file; ``full``: the store is replaced whole) and the state that
    lets its next run extend it."""

    frame: pl.DataFrame
    full: bool
    state: dict


class _DayFrameIOManager(dg.IOManager):
    def __init__(self, base: Path) -> None:
        self.base = base

    def store(self, key: dg.AssetKey) -> DayFrameStore:
        """The store of asset ``key`` (its own asset reads its days and state from it)."""
        return DayFrameStore(self.base.joinpath(*key.path[:-1], f"{key.path[-1]}.parquet"))

    def handle_output(self, context: dg.OutputContext, obj: DailyFrame) -> None:
        if not isinstance(obj, DailyFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a DailyFrame")
        store = self.store(context.asset_key)
        if obj.full or obj.frame.height:
            store.write(obj.frame, replace_all=obj.full)
        store.write_state(obj.state)
        days = store.days()
        written = obj.frame["timestamp"].dt.date().n_unique() if obj.frame.height else 0
        context.add_output_metadata(
            {
                "rows_written": obj.frame.height,
                "days_written": written,
                "full_rebuild": obj.full,
                "stored_days": len(days),
                "stored_last_day": str(days[-1]) if days else "",
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | DayFrameStore:
        store = self.store(context.asset_key)
        if not store.root.exists():
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()}: nothing stored in {store.root}:"
                " materialize it first"
            )
        return store if _wants(context, DayFrameStore) else store.read()


class DayFrameIOManager(dg.ConfigurableIOManagerFactory):
    """Frames keyed by (symbol, timestamp) as ``<base_dir>/<asset>.parquet/<YYYY-MM-DD>.parquet``
    (a :class:`~quant_engine.data.store.DayFrameStore`): a run writes only the days it
    (re)computed. A downstream input annotated ``pl.DataFrame`` reads every day; one annotated
    ``DayFrameStore`` gets the store and reads the days it needs."""

    base_dir: str = ""  # default: QUANT_HOME/assets, resolved when a run starts

    def create_io_manager(self, context: dg.InitResourceContext) -> _DayFrameIOManager:
        return _DayFrameIOManager(Path(self.base_dir or QuantHome.resolve().assets))
