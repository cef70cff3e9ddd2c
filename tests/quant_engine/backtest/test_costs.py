"""The cost model's impact laws on hand-computed numbers."""

import numpy as np
import pytest

from quant_engine.backtest import CostModel


def test_square_root_and_linear_impact():
    q, sigma, adv = np.array([-1e6, 4e5]), np.array([0.02, 0.01]), np.array([1e8, 4e7])
    linear_rate = (1.0 + 2.0) / 1e4
    root = CostModel(1.0, 2.0, 0.1).cost(q, sigma, adv)
    np.testing.assert_allclose(root, np.abs(q) * (linear_rate + 0.1 * sigma * np.sqrt(0.01)))
    linear = CostModel(1.0, 2.0, 0.1, "linear").cost(q, sigma, adv)
    np.testing.assert_allclose(linear, np.abs(q) * (linear_rate + 0.1 * 0.01))
    # Doubling the trade doubles the linear impact rate but only adds 41% under the root law.
    assert CostModel(0, 0, 0.1, "linear").cost(2 * q, sigma, adv)[0] == pytest.approx(
        4 * CostModel(0, 0, 0.1, "linear").cost(q, sigma, adv)[0]
    )


def test_unknown_impact_model_is_refused():
    with pytest.raises(ValueError, match="unknown impact model 'kyle'"):
        CostModel(impact_model="kyle")
