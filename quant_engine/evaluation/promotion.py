"""Champion / challenger: promote a new model only when it beats the current one, tested.

The rule: on every out-of-sample day both models scored and whose label is known, take the
daily rank IC of each; the challenger is promoted when the mean of the daily differences
(challenger minus champion) is positive and a one-sided test rejects "no better" at level
``alpha``. The standard error is Newey-West with ``horizon - 1`` lags, since labels of
overlapping horizons make neighbouring days' ICs correlated (horizon 1: the plain paired t-test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.evaluation.ic import daily_ic
from quant_engine.features.labels import LABEL


@dataclass(frozen=True)
class PromotionRule:
    """Level of the one-sided paired test and the fewest common days it may be run on."""

    alpha: float = 0.05
    min_common_days: int = 63
    horizon: int = 1  # label horizon: Newey-West lags = horizon - 1

    @property
    def statement(self) -> str:
        return (
            f"promote when the mean daily rank-IC difference over all common out-of-sample days "
            f"is > 0 with one-sided p < {self.alpha} (paired t-test, Newey-West lags "
            f"{self.horizon - 1}, at least {self.min_common_days} days)"
        )


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_rank_ic: float | None = None
    champion_rank_ic: float | None = None
    mean_difference: float | None = None
    t_stat: float | None = None
    p_value: float | None = None
    window_start: object = None
    window_end: object = None
    n_days: int = 0
    comparable: bool = True  # False: too few common days for the test to mean anything


def paired_one_sided_test(differences: np.ndarray, lags: int = 0) -> tuple[float, float]:
    """(t statistic, one-sided p-value) of "mean > 0" for daily ``differences`` (HAC errors)."""
    n = differences.size
    centred = differences - differences.mean()
    variance = float(centred @ centred) / n
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1.0 - lag / (lags + 1)
        variance += 2.0 * weight * float(centred[lag:] @ centred[:-lag]) / n
    se = math.sqrt(max(variance, 0.0) / (n - 1))
    if se == 0.0:
        return (math.inf if differences.mean() > 0 else 0.0), (
            0.0 if differences.mean() > 0 else 1.0
        )
    from scipy import stats  # imported by the promotion decision only (about a second)

    t = float(differences.mean()) / se
    return t, float(stats.t.sf(t, df=n - 1))


def decide_promotion(
    challenger: pl.DataFrame,
    champion: pl.DataFrame | None,
    labels: pl.DataFrame,
    rule: PromotionRule | None = None,
) -> PromotionDecision:
    """Apply ``rule`` to the challenger's and the champion's out-of-sample scores.

    ``challenger`` and ``champion`` hold (symbol, timestamp, score); ``labels`` holds
    (symbol, timestamp, label). With no champion the challenger is promoted.
    """
    rule = rule or PromotionRule()
    if champion is None:
        return PromotionDecision(True, "no champion yet")
    known = labels.select(*KEYS, LABEL).drop_nulls(LABEL)
    both = (
        challenger.select(*KEYS, "score")
        .join(champion.select(*KEYS, pl.col("score").alias("champion_score")), on=KEYS)
        .join(known, on=KEYS)
    )
    paired = (
        daily_ic(both)
        .select("timestamp", "rank_ic")
        .join(
            daily_ic(both, score="champion_score").select(
                "timestamp", pl.col("rank_ic").alias("champion_rank_ic")
            ),
            on="timestamp",
        )
        .drop_nulls()
        .sort("timestamp")
    )
    n = paired.height
    if n < max(rule.min_common_days, 2):
        return PromotionDecision(
            False,
            f"challenger and champion share {n} scored, labelled days; the rule needs "
            f"{rule.min_common_days}: not compared, champion kept",
            n_days=n,
            comparable=False,
        )
    differences = (paired["rank_ic"] - paired["champion_rank_ic"]).to_numpy()
    t, p = paired_one_sided_test(differences, rule.horizon - 1)
    mean = float(differences.mean())
    promote = mean > 0 and p < rule.alpha
    challenger_ic = float(paired["rank_ic"].mean())
    champion_ic = float(paired["champion_rank_ic"].mean())
    verdict = "beats" if promote else "does not beat"
    return PromotionDecision(
        promote,
        f"challenger rank IC {challenger_ic:.4f} {verdict} champion {champion_ic:.4f} over "
        f"{n} common days {paired['timestamp'][0]:%Y-%m-%d}..{paired['timestamp'][-1]:%Y-%m-%d}"
        f": mean difference {mean:+.4f}, t {t:.2f}, one-sided p {p:.3g}"
        f" ({'<' if p < rule.alpha else '>='} {rule.alpha})",
        challenger_ic,
        champion_ic,
        mean,
        t,
        p,
        paired["timestamp"][0],
        paired["timestamp"][-1],
        n,
    )
