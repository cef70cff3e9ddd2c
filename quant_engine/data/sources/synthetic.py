"""The seeded synthetic market as a :class:`~quant_engine.data.sources.base.BarSource`.

Its sessions are weekdays without holidays (the ``"24/5"`` calendar). The market is
prefix-stable: more ``n_days`` extend the same bars, so a range can be served from any market
that covers it. Given a cache folder (``QUANT_HOME/cache/synthetic`` for the Dagster assets), a
source keeps the generated sessions there and extends them from the generator's saved state:
serving a day of a market of any length then costs that day, with the same bars.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from quant_engine.data.calendars import BUSINESS_DAYS
from quant_engine.data.sources.base import Timeframe
from quant_engine.data.store import bar_day
from quant_engine.data.synthetic import (
    BAR_FIELDS,
    GeneratorState,
    SyntheticMarket,
    SyntheticMarketConfig,
    bar_frame,
    generate_market,
    initial_state,
    oracle_ics,
    simulate,
    symbol_names,
    trading_days,
)

STATE_SCALARS = ("day", "rng", "turbulent")
IC_LAG = 2  # a day's oracle IC is known once the session two days later exists


@lru_cache(maxsize=4)
def _market(config: SyntheticMarketConfig) -> SyntheticMarket:
    return generate_market(config)


class MarketCache:
    """The sessions of one synthetic market family (every parameter but ``n_days``) in a folder.

    Each generation writes a chunk ``<first>-<end>/`` (session numbers, end exclusive): one
    ``.npy`` per bar field, the chunk's daily oracle ICs and the generator's state after it, so
    that a longer market extends the stored one by its new sessions only. Chunks are written
    to a temporary folder and renamed into place, so a reader sees whole chunks only; chunks
    that overlap (writers side by side) hold the same sessions.
    """

    def __init__(self, folder: str | os.PathLike[str], config: SyntheticMarketConfig) -> None:
        self.config = config
        family = {k: v for k, v in asdict(config).items() if k != "n_days"}
        key = hashlib.sha256(json.dumps(family, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(folder) / key
        self._family = family

    def _chunks(self) -> list[tuple[int, int]]:
        if not self.folder.is_dir():
            return []
        spans = []
        for entry in self.folder.iterdir():
            first, _, end = entry.name.partition("-")
            if first.isdigit() and end.isdigit():
                spans.append((int(first), int(end)))
        return spans

    def _chain(self) -> list[tuple[int, int]]:
        """Chunks covering sessions 0 to the last stored one, without gaps, in order."""
        spans, chain, position = self._chunks(), [], 0
        while True:
            after = [s for s in spans if s[0] <= position < s[1]]
            if not after:
                return chain
            chain.append(max(after, key=lambda s: s[1]))
            position = chain[-1][1]

    def _path(self, span: tuple[int, int]) -> Path:
        return self.folder / f"{span[0]:08d}-{span[1]:08d}"

    def _state(self, span: tuple[int, int]) -> GeneratorState:
        path = self._path(span)
        scalars = json.loads((path / "state.json").read_text())
        with np.load(path / "state.npz") as arrays:
            others = {f.name: arrays[f.name] for f in fields(GeneratorState) if f.name in arrays}
        return GeneratorState(**scalars, **others)

    def _write(self, state: GeneratorState, n_days: int) -> None:
        arrays, after = simulate(self.config, state, n_days)
        self.folder.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=self.folder))
        for name in BAR_FIELDS:
            np.save(building / f"{name}.npy", arrays[name])
        np.save(building / "oracle_ic.npy", oracle_ics(state, arrays["expected"], arrays["open"]))
        scalars = {name: getattr(after, name) for name in STATE_SCALARS}
        (building / "state.json").write_text(json.dumps(scalars))
        np.savez(
            building / "state.npz",
            **{f.name: getattr(after, f.name) for f in fields(after) if f.name not in scalars},
        )
        (building / "family.json").write_text(json.dumps(self._family, sort_keys=True))
        try:
            os.rename(building, self._path((state.day, after.day)))
        except OSError:  # another writer stored the same sessions first
            shutil.rmtree(building)

    def ensure(self) -> list[tuple[int, int]]:
        """Generate the sessions the config has beyond the stored ones; the chunks in order."""
        chain = self._chain()
        stored = chain[-1][1] if chain else 0
        if stored < self.config.n_days:
            state = self._state(chain[-1]) if chain else initial_state(self.config)
            self._write(state, self.config.n_days - stored)
            chain = self._chain()
        return chain

    def _rows(self, name: str, start: int, end: int, lag: int = 0) -> np.ndarray:
        """Rows ``start <= row < end`` of array ``name`` across the chunks, generating the
        sessions not stored yet (a chunk's row ``k`` is session ``first - lag + k``, from
        session 0 on)."""
        parts = []
        for first, last in self.ensure():
            offset = max(first - lag, 0)
            low, high = max(offset, start), min(last - lag, end)
            if low < high:
                rows = np.load(self._path((first, last)) / f"{name}.npy", mmap_mode="r")
                parts.append(np.array(rows[low - offset : high - offset]))
        if not parts:
            return np.empty((0, self.config.n_symbols) if lag == 0 else 0)
        return np.concatenate(parts)

    def bars(self, start: int, end: int) -> pl.DataFrame:
        """Bars of sessions ``start <= session < end`` (numbers from 0), all symbols."""
        arrays = {name: self._rows(name, start, end) for name in BAR_FIELDS}
        days = trading_days(self.config.start, self.config.n_days)[start:end]
        return bar_frame(symbol_names(self.config.n_symbols), days, arrays)

    def oracle_ic(self) -> float:
        """The market's oracle IC, as :func:`generate_market` computes it."""
        scored = self._rows(
            "oracle_ic", self.config.warmup_days - 1, self.config.n_days - 2, IC_LAG
        )
        return float(np.mean(scored))


class SyntheticSource:
    """Daily bars of the synthetic market described by ``config`` (``cache``: a folder that
    keeps the generated sessions, see :class:`MarketCache`)."""

    name = "synthetic"
    calendar = BUSINESS_DAYS

    def __init__(
        self, config: SyntheticMarketConfig | None = None, cache: str | os.PathLike[str] = ""
    ) -> None:
        self.config = config or SyntheticMarketConfig()
        self.cache = MarketCache(cache, self.config) if cache else None

    @property
    def market(self) -> SyntheticMarket:
        """The generated market (cached per config)."""
        return _market(self.config)

    def days(self) -> list[date]:
        """Every session the market has, oldest first."""
        days = trading_days(self.config.start, self.config.n_days)
        return [d.item() for d in days]

    def oracle_ic(self) -> float:
        """The oracle IC of the planted signal (see :mod:`quant_engine.data.synthetic`)."""
        return self.market.oracle_ic if self.cache is None else self.cache.oracle_ic()

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars of sessions ``start <= day < end`` (end exclusive) for ``symbols`` (None: all)."""
        if timeframe != "1d":
            raise ValueError(f"synthetic source: only daily bars ('1d'), not {timeframe!r}")
        if end < start:
            raise ValueError(f"synthetic source: end {end} is before start {start}")
        if self.cache is None:
            bars = self.market.bars.filter(bar_day().is_between(start, end, closed="left"))
        else:
            days = trading_days(self.config.start, self.config.n_days)
            first, last = np.searchsorted(days, np.array([start, end], dtype="datetime64[D]"))
            bars = self.cache.bars(int(first), int(last))
        if symbols is not None:
            bars = bars.filter(pl.col("symbol").is_in(list(symbols)))
        return bars.sort("symbol", "timestamp")
