"""Polars DataFrames stored as Parquet files under ``QUANT_HOME/assets``, written atomically."""

from __future__ import annotations

import dagster as dg
import polars as pl
from upath import UPath

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

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        return pl.read_parquet(path)


class PolarsParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores each asset as ``<base_dir>/<asset key path>.parquet``."""

    base_dir: str = ""  # default: QUANT_HOME/assets, resolved when a run starts

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIOManager:
        base = self.base_dir or str(QuantHome.resolve().assets)
        return _ParquetIOManager(base_path=UPath(base))
