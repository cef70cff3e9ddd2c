"""Factor sets and the forward-return label per (symbol, day), checked for lookahead.

Stored one file per day (``assets/features.parquet/<YYYY-MM-DD>.parquet``). A run extends the
store: it rebuilds only the new days and the last ``label_horizon + 1`` stored days (whose
labels the new bars complete), from the bars of the factor sets' lookback window before them,
which gives the values a whole-history build gives. It rebuilds every day when
``full_rebuild`` is set, when nothing (or another layout) is stored, when the factor sets,
normalization, dtype, label horizon or corporate actions differ from those the store was built
with, or when a stored day's bars were rewritten since. Factors are computed in float64 and
stored as ``dtype`` (float32 by default: half the matrix; the label stays float64).
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl
from pydantic import Field

from quant_assets.metadata import column_schema, frame_summary
from quant_assets.resources import DailyFrame, StoredBars
from quant_engine.data.store import bar_day
from quant_engine.evaluation.leakage import features_reading_the_future
from quant_engine.features import (
    LABEL,
    LABEL_HORIZON,
    FactorSetConfig,
    LabelConfig,
    add_forward_return_label,
    build_factor_sets,
    feature_names,
)

LOOKAHEAD = "features_reading_the_future"


class FeaturesConfig(dg.Config):
    factor_sets: list[str] = Field(default_factory=lambda: ["basic"])  # names in FACTOR_SETS
    normalize: str = "none"  # none | zscore | rank, across symbols per day
    dtype: str = "float32"  # float32 | float64: the stored values (computed in float64)
    label_horizon: int = 1
    lookahead_symbols: int = 12  # symbols the lookahead check rebuilds the factors on
    full_rebuild: bool = False  # rebuild every stored day, not only the new ones


# Stored days read before the first day a run rebuilds, per bar of the factors' lookback: a
# stored day holds at most one session (holidays are stored empty), so this leaves room.
WINDOW_DAYS_PER_BAR = 2
CHECK_WINDOW_LOOKBACKS = 8  # an extending run checks lookahead on this many lookbacks of days


def _built_from(config: FeaturesConfig, bars: StoredBars) -> dict:
    """What the stored features depend on besides the bars of each day."""
    return {
        "factor_sets": list(config.factor_sets),
        "normalize": config.normalize,
        "dtype": config.dtype,
        "label_horizon": config.label_horizon,
        "corporate_actions": bars.store.actions_digest(),
    }


def _first_day_to_build(
    config: FeaturesConfig, state: dict | None, bars: StoredBars, built_from: dict
) -> tuple[date | None, str]:
    """The first day this run rebuilds (None: every day) and why."""
    if config.full_rebuild:
        return None, "full_rebuild is set"
    if state is None:
        return None, "no features stored in this layout yet"
    if state["built_from"] != built_from:
        return None, "factor sets, normalization, dtype, label horizon or corporate actions changed"
    first = date.fromisoformat(state["stable_before"])
    if bars.store.written_ns(first) != state["bars_written_ns"]:
        return None, f"bars of days before {first} were rewritten"
    return first, "extending the stored days"


def _days(frame: pl.DataFrame) -> set[date]:
    return set(frame.select(bar_day().unique())["timestamp"].to_list()) if frame.height else set()


@dg.asset(
    group_name="research",
    kinds={"polars", "parquet"},
    io_manager_key="day_store_io_manager",
    output_required=False,
    check_specs=[
        dg.AssetCheckSpec(
            LOOKAHEAD,
            asset="features",
            blocking=True,
            description=(
                "Rebuilds the factors after rescaling every bar after a cutoff (three cutoffs,"
                " `lookahead_symbols` symbols): a factor whose values up to the cutoff move"
                " reads the future. A failure names the factors and stores nothing, so no"
                " model trains on them."
            ),
        )
    ],
)
def features(
    context: dg.AssetExecutionContext, config: FeaturesConfig, raw_bars: StoredBars
) -> Iterator:
    """The chosen factor sets per (symbol, day) plus the forward-return label (null if unknown)."""
    factor_config = FactorSetConfig(tuple(config.factor_sets), config.normalize, config.dtype)
    store = context.resources.day_store_io_manager.store(context.asset_key)
    built_from = _built_from(config, raw_bars)
    lookback = factor_config.lookback
    first, reason = _first_day_to_build(config, store.state(), raw_bars, built_from)
    if lookback is None:
        first, reason = None, "a factor set declares no lookback"
    bar_days = raw_bars.days()
    start = None
    if first is not None:  # the bars of the lookback window before the first day rebuilt
        earlier = [day for day in bar_days if day < first]
        back = WINDOW_DAYS_PER_BAR * lookback
        start = earlier[-back] if len(earlier) >= back else None
    bars = raw_bars.read(start)
    context.log.info(
        f"features from {first or 'the first day'} ({reason}), bars from {start or 'the start'}"
    )
    factors = build_factor_sets(bars, factor_config)
    frame = add_forward_return_label(factors, bars, LabelConfig(config.label_horizon))
    if first is not None:
        frame = frame.filter(bar_day() >= first)
    names = feature_names(frame)
    symbols = bars["symbol"].unique().sort().head(config.lookahead_symbols)
    checked = bars
    if first is not None and start is not None:  # a few lookbacks of the latest days
        checked = raw_bars.read(bar_days[-CHECK_WINDOW_LOOKBACKS * lookback :][0])
    offenders = features_reading_the_future(
        lambda bars: build_factor_sets(bars, factor_config),
        checked.filter(pl.col("symbol").is_in(symbols.implode())),
    )
    check = dg.AssetCheckResult(
        check_name=LOOKAHEAD,
        passed=not offenders,
        metadata={
            "reading_the_future": ", ".join(offenders) or "none",
            "n_checked": len(names),
            "symbols_checked": symbols.len(),
        },
    )
    if offenders:  # nothing stored: the check fails and downstream assets do not run
        yield check
        return
    kept = set() if first is None else {day for day in store.days() if day < first}
    feature_days = sorted(kept | _days(frame))
    # The next run rebuilds the last label_horizon + 1 days: their labels need its bars.
    stable_before = feature_days[-(config.label_horizon + 1) :][0] if feature_days else date.min
    state = {
        "built_from": built_from,
        "stable_before": stable_before.isoformat(),
        "bars_written_ns": raw_bars.store.written_ns(stable_before),
    }
    yield dg.Output(
        DailyFrame(frame, full=first is None, state=state),
        metadata={
            "rebuilt_from": str(first or "the first day"),
            "rebuild_reason": reason,
            "factor_sets": ", ".join(config.factor_sets),
            "normalize": config.normalize,
            "dtype": config.dtype,
            "n_features": len(names),
            "features": ", ".join(names) if len(names) <= 40 else f"{len(names)} factors",
            "label_horizon": config.label_horizon,
            "labelled_rows": frame[LABEL].is_not_null().sum(),
            **frame_summary(frame),
            **column_schema(
                frame,
                {
                    "symbol": "instrument",
                    "timestamp": "session (UTC), the factors known at its close",
                    LABEL: "open[t+1+h] / open[t+1] - 1, null where not yet known",
                    LABEL_HORIZON: "h, the label's horizon in trading days",
                },
            ),
        },
    )
    yield check
