"""An Alpha158-class factor set (after Qlib's Alpha158), computed by compiled kernels.

13 single-day factors (k-bar shape and price ratios) plus 29 rolling factors for each window
(5/10/20/30/60 by default): 158 columns. Every rolling factor at ``t`` reads bars in
``(t - window, t]`` only. Prices are divided by the latest close so factors are scale-free.
Qlib's VWAP ratio uses the typical price ``(high + low + close) / 3``, as daily bars carry no VWAP.
The loops live in ``features.kernels``: a row's factors depend on the bars of its windows
alone, bit for bit. They compute in float64 and write into two blocks of the stored ``dtype``
(float32: each value rounded once) whose rows become the result's columns without a copy, so a
build's peak is its result plus the sorted bars. The rolling loop runs on every CPU the process
may use (within a container's CPU limit), the symbols split into runs of about equal rows: the
same values, bit for bit.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.features.dtypes import FeatureDtype, numpy_dtype
from quant_engine.features.kernels import rolling_kernel, single_day_kernel

SINGLE_DAY = (
    "KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2",
    "OPEN0", "HIGH0", "LOW0", "VWAP0",
)  # fmt: skip
ROLLING = (
    "ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV",
    "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD",
    "VMA", "VSTD", "WVMA", "VSUMP", "VSUMN", "VSUMD", "IMAX", "IMIN", "IMXD",
)  # fmt: skip


@dataclass(frozen=True)
class Alpha158Config:
    """Rolling windows of the factor set, in bars."""

    windows: tuple[int, ...] = (5, 10, 20, 30, 60)

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 2:
            raise ValueError("Alpha158 windows must be at least 2 bars")


def alpha158_columns(config: Alpha158Config | None = None) -> list[str]:
    """Names of the factor columns, in output order."""
    cfg = config or Alpha158Config()
    return list(SINGLE_DAY) + [f"{name}{d}" for d in cfg.windows for name in ROLLING]


def _columns(names, block: np.ndarray) -> list[pl.Series]:
    """One column per row of ``block`` (sharing its memory, of its type), NaN read as null."""
    return [pl.Series(name, row, nan_to_null=True) for name, row in zip(names, block, strict=True)]


CPU_QUOTA = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2's CPU limit (``<quota> <period>`` or ``max <period>``): a container's share."""


def _cpus(quota_file: Path = CPU_QUOTA) -> int:
    """The CPUs this process may run on, within its container's CPU limit."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux
    cpus = len(affinity(0)) if affinity else os.cpu_count() or 1
    try:
        quota, period = quota_file.read_text().split()
        return max(1, min(cpus, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 file, or no limit ("max")
        return cpus


def _rolling(h, lo, c, v, offsets, windows, block, threads: int) -> None:
    """:func:`rolling_kernel` over the symbols in up to ``threads`` runs of about equal rows,
    side by side: the kernel releases the GIL and each run writes its own symbols' rows."""
    n_symbols = offsets.shape[0] - 1
    targets = np.linspace(0, offsets[-1], max(1, min(threads, n_symbols)) + 1)[1:-1]
    bounds = np.unique([0, *np.searchsorted(offsets, targets), n_symbols])
    runs = [offsets[a : b + 1] for a, b in itertools.pairwise(bounds)]
    if len(runs) <= 1:
        rolling_kernel(h, lo, c, v, offsets, windows, block)
        return
    with ThreadPoolExecutor(len(runs)) as pool:
        for done in [pool.submit(rolling_kernel, h, lo, c, v, r, windows, block) for r in runs]:
            done.result()


def build_alpha158(
    bars: pl.DataFrame | pl.LazyFrame,
    config: Alpha158Config | None = None,
    dtype: FeatureDtype = "float64",
) -> pl.DataFrame:
    """The factor set for canonical bars: symbol, timestamp and the 158 factor columns, of
    type ``dtype``."""
    cfg = config or Alpha158Config()
    out = numpy_dtype(dtype)
    frame = bars.lazy().select(*KEYS, "open", "high", "low", "close", "volume").sort(KEYS).collect()
    o, h, lo, c, v = (
        np.ascontiguousarray(frame[x].to_numpy(), dtype=np.float64)
        for x in ("open", "high", "low", "close", "volume")
    )
    lengths = frame["symbol"].rle().struct.field("len").to_numpy()
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    block = np.empty((len(SINGLE_DAY), frame.height), dtype=out)
    single_day_kernel(o, h, lo, c, block)
    columns = [*frame.get_columns()[:2], *_columns(SINGLE_DAY, block)]
    windows = sorted(cfg.windows)
    block = np.empty((len(ROLLING) * len(windows), frame.height), dtype=out)  # columns share it
    _rolling(h, lo, c, v, offsets, np.array(windows, dtype=np.int64), block, _cpus())
    names = [f"{name}{d}" for d in windows for name in ROLLING]
    by_name = dict(zip(names, _columns(names, block), strict=True))
    columns += [by_name[name] for name in alpha158_columns(cfg)[len(SINGLE_DAY) :]]
    return pl.DataFrame(columns)
