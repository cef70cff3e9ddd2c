"""Execution costs: implementation shortfall of each execution algorithm on sampled parents."""

from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from quant_engine.backtest import CostModel
from quant_engine.execution.bars import BarExecutionConfig
from quant_engine.execution.study import StudyConfig, execution_cost_table, shortfall_summary

_COSTS = CostModel()  # the engine's one cost model: the backtest's defaults


class ExecutionCostsConfig(dg.Config):
    pct_adv: float = 0.05  # each parent order: this share of the symbol's average daily volume
    side: Literal["buy", "sell"] = "buy"
    n_starts: int = 5  # sampled start days per symbol
    n_bars: int = 5  # bars each parent is traded over, after its start day
    seed: int = 0
    algorithms: list[str] = Field(default_factory=lambda: ["twap", "vwap", "pov", "is"])
    fill_price: Literal["open", "typical", "close"] = "typical"
    estimate_window: int = 20  # bars up to the start for volatility and ADV
    vwap_lookback: int = 20
    pov_rate: float = 0.1
    is_urgency: float = 2.0
    # the cost model, as the backtest's: commission + half spread + impact per child
    commission_bps: float = _COSTS.commission_bps
    half_spread_bps: float = _COSTS.half_spread_bps
    impact_coef: float = _COSTS.impact_coef  # square root: coef * sigma * sqrt(qty / ADV)
    impact_model: Literal["square_root", "linear"] = _COSTS.impact_model

    def study(self) -> StudyConfig:
        return StudyConfig(
            pct_adv=self.pct_adv,
            side=self.side,
            n_starts=self.n_starts,
            seed=self.seed,
            execution=BarExecutionConfig(self.n_bars, self.fill_price, self.estimate_window),
            algorithms=tuple(self.algorithms),
            vwap_lookback=self.vwap_lookback,
            pov_rate=self.pov_rate,
            is_urgency=self.is_urgency,
            costs=CostModel(
                self.commission_bps, self.half_spread_bps, self.impact_coef, self.impact_model
            ),
        )


def _markdown(frame: pl.DataFrame) -> str:
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in frame.rows()]
    lines = [frame.columns, ["---"] * frame.width, *cells]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


@dg.asset(group_name="execution", kinds={"polars"})
def execution_costs(
    context: dg.AssetExecutionContext, config: ExecutionCostsConfig, raw_bars: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Shortfall vs arrival price (bps) of every algorithm on the same sampled parent orders."""
    table = execution_cost_table(raw_bars, config.study())
    summary = shortfall_summary(table)
    context.log.info(f"{table.height} executions of {table['algorithm'].n_unique()} algorithms")
    metadata: dict[str, object] = {
        "n_parent_orders": table.select("symbol", "start").n_unique(),
        "summary": dg.MetadataValue.md(_markdown(summary)),
    }
    for row in summary.iter_rows(named=True):
        for stat in ("mean_bps", "std_bps", "p05_bps", "p50_bps", "p95_bps"):
            metadata[f"{row['algorithm']}.{stat}"] = float(row[stat])
    return dg.Output(table, metadata=metadata)
