"""Databento: bars and trades from the Historical API, and from DBN files already downloaded.

Bars come from ``timeseries.get_range`` with the ``ohlcv-1m`` / ``ohlcv-1h`` / ``ohlcv-1d``
schemas, trades from ``trades``; requests are split into chunks of at most 2,000 symbols (the
API's limit) and retried on 429 (honouring ``Retry-After``), 5xx and dropped connections. DBN
prices are int64 nanos (scaled by 1e9); instrument ids are mapped back to the requested symbols
through the metadata's symbology mappings.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import databento
import numpy as np
import polars as pl
import requests
from databento.common.error import BentoClientError, BentoError, BentoHttpError, BentoWarning

from quant_engine.data.schema import PRICE_COLUMNS
from quant_engine.data.sources.base import Timeframe
from quant_engine.data.sources.frames import (
    canonical,
    check_range,
    chunked,
    day_bounds,
    empty_bars,
    in_range,
    note_missing,
    session_label,
)
from quant_engine.data.sources.retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)

log = logging.getLogger(__name__)

PRICE_SCALE = 1e9  # DBN fixed-point prices: 1 unit = 1e-9
UNDEF_PRICE = np.iinfo(np.int64).max  # DBN's "no price"
MAX_SYMBOLS_PER_REQUEST = 2_000
BAR_SCHEMAS: dict[str, str] = {"1m": "ohlcv-1m", "1h": "ohlcv-1h", "1d": "ohlcv-1d"}
TRADE_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timestamp": pl.Datetime("ns", "UTC"),  # ts_event: the venue's matching time
    "ts_recv": pl.Datetime("ns", "UTC"),  # when Databento's capture received it
    "price": pl.Float64(),
    "size": pl.Float64(),
    "side": pl.String(),  # A (sell aggressor), B (buy aggressor), N (none)
}


@dataclass(frozen=True)
class DatabentoConfig:
    """Which dataset to ask, and how.

    ``session_timezone`` places the day boundaries of intraday requests (``America/New_York``
    for US equities' extended hours); daily bars are stamped by Databento at midnight UTC.
    """

    dataset: str  # e.g. "XNAS.ITCH", "EQUS.MINI", "GLBX.MDP3"
    stype_in: str = "raw_symbol"
    session_timezone: str = "UTC"
    gateway: str | None = None  # None: Databento's own
    chunk_size: int = MAX_SYMBOLS_PER_REQUEST
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= MAX_SYMBOLS_PER_REQUEST:
            raise ValueError(
                f"chunk_size must be 1..{MAX_SYMBOLS_PER_REQUEST}, got {self.chunk_size}"
            )


def bar_schema_for(timeframe: str) -> str:
    """The Databento schema serving ``timeframe`` bars."""
    try:
        return BAR_SCHEMAS[timeframe]
    except KeyError:
        raise ValueError(
            f"databento: no bar schema for timeframe {timeframe!r}; it serves"
            f" {', '.join(BAR_SCHEMAS)} (aggregate 1m bars for other periods)"
        ) from None


def explain_databento_error(exc: Exception) -> Failure | None:
    """Translate the Databento client's exceptions (None: not the client's)."""
    if isinstance(exc, BentoHttpError):
        status = exc.http_status
        message = (exc.message or "").replace("\n", "; ") or "no message"
        headers = exc.headers or {}
        if isinstance(exc, BentoClientError) and status in (401, 403):
            return Failure(f"authentication failed (HTTP {status}): {message}", False)
        retryable = status == 429 or status >= 500
        wait = parse_retry_after(headers.get("Retry-After")) if retryable else None
        return Failure(f"HTTP {status}: {message}", retryable, wait)
    if isinstance(exc, BentoError):  # a stream cut short
        return Failure(str(exc), True)
    if isinstance(exc, requests.RequestException):
        return Failure(f"connection failed: {type(exc).__name__}", True)
    return None


def _symbol_map(store: databento.DBNStore) -> pl.DataFrame:
    """(instrument_id, start, end, symbol) rows from the store's symbology mappings."""
    rows = [
        (int(interval["symbol"]), interval["start_date"], interval["end_date"], symbol)
        for symbol, intervals in store.mappings.items()
        for interval in intervals
        if str(interval["symbol"]).isdigit()
    ]
    return pl.DataFrame(
        rows,
        schema={"instrument_id": pl.UInt32, "from": pl.Date, "to": pl.Date, "symbol": pl.String},
        orient="row",
    )


def _with_symbols(frame: pl.DataFrame, store: databento.DBNStore, ts: str) -> pl.DataFrame:
    """Add ``symbol`` by instrument id and date; unmapped ids keep their number as symbol."""
    mapping = _symbol_map(store)
    names = mapping.unique(["instrument_id", "symbol"])
    if names["instrument_id"].is_unique().all():  # one name per id: no dates needed
        return frame.with_columns(
            pl.col("instrument_id")
            .replace_strict(
                names["instrument_id"],
                names["symbol"],
                default=pl.col("instrument_id").cast(pl.String),
                return_dtype=pl.String,
            )
            .alias("symbol")
        )
    mapping = mapping.with_columns(
        pl.col("symbol").n_unique().over("instrument_id").alias("_names")
    )
    day = pl.col(ts).dt.date()
    dated = (pl.col("from") <= day) & (day < pl.col("to"))
    mapped = (
        frame.with_row_index("_order")
        .join(mapping, on="instrument_id", how="left")
        .filter((pl.col("_names") == 1) | dated)
        .unique("_order", keep="first", maintain_order=True)
        .drop("_names")
    )
    # Ids the mapping does not name (instrument-id requests, or an id reused by several
    # symbols on a date outside every interval) keep their number as symbol.
    missing = frame.with_row_index("_order").join(mapped.select("_order"), on="_order", how="anti")
    named = pl.concat(
        [
            mapped.drop("from", "to"),
            missing.with_columns(pl.col("instrument_id").cast(pl.String).alias("symbol")),
        ],
        how="diagonal_relaxed",
    )
    return named.sort("_order").drop("_order")


def _records(store: databento.DBNStore, prices: Sequence[str], source: str) -> pl.DataFrame:
    """The store's records as columns, ``prices`` scaled to floats (undefined ones null).

    A store cut mid-record (a truncated file) is an error, not a lost last record. The scaling
    divides in numpy: polars multiplies by the reciprocal, which turns 185.2 into
    185.20000000000002.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", BentoWarning)
        try:
            array = np.asarray(store.to_ndarray())
        except BentoWarning as exc:
            raise ValueError(f"{source}: not a complete DBN file ({exc})") from None
    if not len(array):
        return pl.DataFrame()
    columns = {name: array[name] for name in array.dtype.names}
    for name in prices:
        raw = columns[name]
        columns[name] = np.where(raw == UNDEF_PRICE, np.nan, raw / PRICE_SCALE)
    return pl.DataFrame(columns).with_columns(pl.col(prices).fill_nan(None))


def store_to_bars(
    store: databento.DBNStore, source: str, session_timezone: str = "UTC"
) -> pl.DataFrame:
    """Canonical bars from an OHLCV ``DBNStore`` (daily bars labelled by session date)."""
    schema = str(store.schema)
    if not schema.startswith("ohlcv-"):
        raise ValueError(f"{source}: schema {schema!r} holds no bars (expected ohlcv-*)")
    records = _records(store, PRICE_COLUMNS, source)
    if records.height == 0:
        return empty_bars()
    records = records.with_columns(
        pl.col("ts_event").cast(pl.Int64).cast(pl.Datetime("ns", "UTC")).alias("timestamp")
    )
    frame = _with_symbols(records, store, "timestamp").with_columns(
        pl.col("volume").cast(pl.Float64),
        pl.col("timestamp").cast(pl.Datetime("us", "UTC")),
    )
    if schema in ("ohlcv-1d", "ohlcv-eod"):
        frame = frame.with_columns(session_label(pl.col("timestamp"), session_timezone))
    return canonical(frame, source)


def empty_trades() -> pl.DataFrame:
    """A trades frame with :data:`TRADE_SCHEMA` and no rows."""
    return pl.DataFrame(schema=TRADE_SCHEMA)


def store_to_trades(store: databento.DBNStore, source: str) -> pl.DataFrame:
    """A trades frame (:data:`TRADE_SCHEMA`) from a ``trades`` ``DBNStore``."""
    if str(store.schema) != "trades":
        raise ValueError(f"{source}: schema {store.schema!s} is not 'trades'")
    records = _records(store, ["price"], source)
    if records.height == 0:
        return empty_trades()
    as_time = {
        c: pl.col(c).cast(pl.Int64).cast(pl.Datetime("ns", "UTC")) for c in ("ts_event", "ts_recv")
    }
    frame = _with_symbols(records.with_columns(**as_time), store, "ts_event")
    out = frame.select(
        pl.col("symbol"),
        pl.col("ts_event").alias("timestamp"),
        pl.col("ts_recv"),
        pl.col("price"),
        pl.col("size").cast(pl.Float64),
        pl.col("side").cast(pl.String),
    )
    bad = out.filter(pl.col("price").is_null() | (pl.col("price") <= 0))
    if bad.height:
        first = bad.row(0, named=True)
        raise ValueError(
            f"{source}: trade of {first['symbol']} at {first['timestamp']} has no valid price"
            f" ({bad.height} such trade(s))"
        )
    return out.sort("symbol", "ts_recv", maintain_order=True)


def read_dbn(path: str | Path) -> databento.DBNStore:
    """Open a ``.dbn`` or ``.dbn.zst`` file, with one clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DBN file")
    try:
        return databento.DBNStore.from_file(path)
    except Exception as exc:  # the decoder raises plain ValueError/RuntimeError
        raise ValueError(f"{path}: not a readable DBN file ({exc})") from exc


def read_dbn_bars(path: str | Path, session_timezone: str = "UTC") -> pl.DataFrame:
    """Canonical bars from an OHLCV DBN file."""
    return store_to_bars(read_dbn(path), str(path), session_timezone)


def read_dbn_trades(path: str | Path) -> pl.DataFrame:
    """Trades (:data:`TRADE_SCHEMA`) from a ``trades`` DBN file."""
    return store_to_trades(read_dbn(path), str(path))


class DatabentoSource:
    """Bars (and trades) from Databento's Historical API, behind :class:`BarSource`."""

    name = "databento"

    def __init__(
        self,
        config: DatabentoConfig,
        api_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("databento: an API key is required (DATABENTO_API_KEY)")
        self.config = config
        self._sleep = sleep
        options = {"gateway": config.gateway} if config.gateway else {}
        self._client = databento.Historical(key=api_key, **options)

    def __repr__(self) -> str:
        return f"DatabentoSource(dataset={self.config.dataset!r})"

    def _get_range(
        self, schema: str, symbols: Sequence[str] | None, start: datetime, end: datetime
    ) -> list[databento.DBNStore]:
        groups: list[list[str] | None] = (
            [None] if symbols is None else chunked(list(symbols), self.config.chunk_size)
        )
        stores = []
        for group in groups:
            what = f"{schema} {self.config.dataset} {start:%Y-%m-%d}..{end:%Y-%m-%d}"
            if group is not None:
                what += f" ({len(group)} symbol{'s' if len(group) != 1 else ''})"

            def call(group: list[str] | None = group) -> databento.DBNStore:
                with warnings.catch_warnings():  # unresolved symbols are reported below
                    warnings.simplefilter("ignore", BentoWarning)
                    return self._client.timeseries.get_range(
                        dataset=self.config.dataset,
                        start=start,
                        end=end,
                        symbols=group if group is not None else "ALL_SYMBOLS",
                        schema=schema,
                        stype_in=self.config.stype_in,
                    )

            stores.append(
                call_with_retries(
                    call,
                    source=self.name,
                    what=what,
                    explain=explain_databento_error,
                    policy=self.config.retry,
                    sleep=self._sleep,
                )
            )
        return stores

    def _bounds(self, start: date, end: date, daily: bool) -> tuple[datetime, datetime]:
        return day_bounds(start, end, "UTC" if daily else self.config.session_timezone)

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars for sessions ``start <= day < end`` (see :class:`BarSource`)."""
        schema = bar_schema_for(timeframe)
        check_range(self.name, start, end)
        if start == end or (symbols is not None and not symbols):
            return empty_bars()
        lo, hi = self._bounds(start, end, timeframe == "1d")
        parts = [
            store_to_bars(store, self.name, self.config.session_timezone)
            for store in self._get_range(schema, symbols, lo, hi)
        ]
        # Each part is validated; chunks hold disjoint symbols, so the union is valid too.
        bars = in_range(pl.concat(parts), lo, hi) if parts else empty_bars()
        note_missing(self.name, symbols, bars["symbol"].unique())
        return bars.sort("symbol", "timestamp")

    def fetch_trades(self, symbols: Sequence[str] | None, start: date, end: date) -> pl.DataFrame:
        """Trades (:data:`TRADE_SCHEMA`) on days ``start <= day < end`` in the session zone."""
        check_range(self.name, start, end)
        if start == end or (symbols is not None and not symbols):
            return empty_trades()
        lo, hi = self._bounds(start, end, daily=False)
        parts = [store_to_trades(s, self.name) for s in self._get_range("trades", symbols, lo, hi)]
        trades = pl.concat(parts) if parts else empty_trades()
        note_missing(self.name, symbols, trades["symbol"].unique())
        return trades.sort("symbol", "ts_recv", maintain_order=True)


@dataclass(frozen=True)
class DbnFileConfig:
    """A directory of ``.dbn`` / ``.dbn.zst`` files the user already downloaded."""

    directory: Path
    session_timezone: str = "UTC"


class DbnFileSource:
    """Bars from downloaded DBN files, behind :class:`BarSource` (files chosen by schema)."""

    name = "databento-files"

    def __init__(self, config: DbnFileConfig) -> None:
        self.config = config

    def files(self) -> list[Path]:
        """The DBN files of the directory, sorted by name (subfolders included)."""
        directory = Path(self.config.directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: is not a directory")
        return sorted(
            p for p in directory.rglob("*") if p.is_file() and p.name.endswith((".dbn", ".dbn.zst"))
        )

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars of ``timeframe`` for sessions ``start <= day < end`` from every matching file."""
        schema = bar_schema_for(timeframe)
        check_range(self.name, start, end)
        tz = "UTC" if timeframe == "1d" else self.config.session_timezone
        lo, hi = day_bounds(start, end, tz)
        stores = [(p, read_dbn(p)) for p in self.files()]
        parts = [
            store_to_bars(store, str(path), self.config.session_timezone)
            for path, store in stores
            if str(store.schema) == schema
        ]
        bars = pl.concat(parts) if parts else empty_bars()
        bars = in_range(bars, lo, hi)
        if symbols is not None:
            bars = bars.filter(pl.col("symbol").is_in(list(symbols)))
        bars = bars.unique(maintain_order=True)  # the same bar in two files; conflicts fail below
        note_missing(self.name, symbols, bars["symbol"].unique())
        return canonical(bars, self.name)
