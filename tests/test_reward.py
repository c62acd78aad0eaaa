"""Paper eq. 2 and threshold screening."""

from __future__ import annotations

import numpy as np
import pytest

from yoso.config import ConfigError
from yoso.search.reward import Reward


def test_eq2_matches_a_hand_computation() -> None:
    r = Reward(alpha1=0.6, omega1=-0.4, alpha2=0.3, omega2=-0.2, t_lat_ms=1.2, t_eer_mj=9.0)
    expected = 0.9 + 0.6 * (0.6 / 1.2) ** -0.4 + 0.3 * (18.0 / 9.0) ** -0.2
    assert r(0.9, 0.6, 18.0) == pytest.approx(expected)
    got = r(np.array([0.9, 0.8]), np.array([0.6, 1.2]), np.array([18.0, 9.0]))
    np.testing.assert_allclose(got, [expected, 0.8 + 0.6 + 0.3])


def test_cheaper_designs_earn_more() -> None:
    r = Reward(0.5, -0.4, 0.5, -0.4)
    assert r(0.9, 0.5, 5.0) > r(0.9, 1.0, 5.0) > r(0.9, 1.0, 10.0)


def test_feasibility_uses_both_thresholds() -> None:
    r = Reward(0.5, -0.4, 0.5, -0.4)
    assert r.feasible([1.0, 1.3, 1.0], [8.0, 8.0, 9.5]).tolist() == [True, False, False]


def test_bad_coefficients_name_key_value_and_range() -> None:
    with pytest.raises(ConfigError, match=r"reward\.omega2=0\.0: allowed a finite number < 0\.0"):
        Reward(0.5, -0.4, 0.5, 0.0)
    with pytest.raises(ConfigError, match=r"reward\.t_eer_mj=-9: allowed a finite number > 0\.0"):
        Reward.from_config({"alpha1": 0.5, "omega1": -0.4, "alpha2": 0.5, "omega2": -0.4, "t_lat_ms": 1, "t_eer_mj": -9})
