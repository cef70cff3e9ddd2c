"""Champion / challenger: promote a new model only when it beats the current one fairly."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.evaluation.ic import daily_ic
from quant_engine.features.labels import LABEL


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_rank_ic: float | None = None
    champion_rank_ic: float | None = None
    window_start: object = None
    window_end: object = None
    window_days: int = 0


def decide_promotion(
    challenger: pl.DataFrame,
    champion: pl.DataFrame | None,
    labels: pl.DataFrame,
    margin: float = 0.005,
    window_days: int = 252,
) -> PromotionDecision:
    """Compare out-of-sample rank IC on the same days: the last ``window_days`` days that both
    prediction sets cover and whose labels are known.

    ``challenger`` and ``champion`` hold (symbol, timestamp, score); ``labels`` holds
    (symbol, timestamp, label). The challenger is promoted when there is no champion, or when
    its rank IC beats the champion's by more than ``margin``.
    """
    if champion is None:
        return PromotionDecision(True, "no champion yet")
    known = labels.select(*KEYS, LABEL).drop_nulls(LABEL)
    both = (
        challenger.select(*KEYS, "score")
        .join(champion.select(*KEYS, pl.col("score").alias("champion_score")), on=KEYS)
        .join(known, on=KEYS)
    )
    days = both["timestamp"].unique().sort().tail(window_days)
    if days.is_empty():
        return PromotionDecision(False, "challenger and champion share no scored, labelled day")
    window = both.filter(pl.col("timestamp").is_in(days.implode()))
    challenger_ic = daily_ic(window)["rank_ic"].mean()
    champion_ic = daily_ic(window, score="champion_score")["rank_ic"].mean()
    promote = challenger_ic > champion_ic + margin
    verdict = "beats" if promote else "does not beat"
    return PromotionDecision(
        promote,
        f"challenger rank IC {challenger_ic:.4f} {verdict} champion {champion_ic:.4f}"
        f" + margin {margin}",
        challenger_ic,
        champion_ic,
        days[0],
        days[-1],
        days.len(),
    )
