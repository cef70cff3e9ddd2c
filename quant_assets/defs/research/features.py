"""Factor sets and the forward-return label per (symbol, day), checked for lookahead."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from pydantic import Field

from quant_assets.metadata import column_schema, frame_summary
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
    label_horizon: int = 1
    lookahead_symbols: int = 12  # symbols the lookahead check rebuilds the factors on


@dg.asset(
    group_name="research",
    kinds={"polars", "parquet"},
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
def features(config: FeaturesConfig, raw_bars: pl.DataFrame) -> Iterator:
    """The chosen factor sets per (symbol, day) plus the forward-return label (null if unknown)."""
    factor_config = FactorSetConfig(tuple(config.factor_sets), config.normalize)
    factors = build_factor_sets(raw_bars, factor_config)
    frame = add_forward_return_label(factors, raw_bars, LabelConfig(config.label_horizon))
    names = feature_names(frame)
    symbols = raw_bars["symbol"].unique().sort().head(config.lookahead_symbols)
    offenders = features_reading_the_future(
        lambda bars: build_factor_sets(bars, factor_config),
        raw_bars.filter(pl.col("symbol").is_in(symbols.implode())),
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
    yield dg.Output(
        frame,
        metadata={
            "factor_sets": ", ".join(config.factor_sets),
            "normalize": config.normalize,
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
