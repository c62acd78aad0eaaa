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
        Reward(**{"alpha1": 0.5, "omega1": -0.4, "alpha2": 0.5, "omega2": -0.4, "t_lat_ms": 1, "t_eer_mj": -9})


#: The paper's Fig. 4 coefficient sets (alpha1, omega1 on latency; alpha2, omega2 on energy), written out here.
PAPER_PRESETS = {
    "balanced": (0.5, -0.4, 0.5, -0.4),
    "energy": (0.6, -0.4, 0.3, -0.2),
    "latency": (0.3, -0.3, 0.6, -0.4),
}


@pytest.mark.parametrize("preset", sorted(PAPER_PRESETS))
def test_reward_presets_compute_eq2(preset: str) -> None:
    from helpers import compose_config

    from yoso.config import build

    reward = build(compose_config("search", [f"reward={preset}"]).reward, "reward")
    a1, w1, a2, w2 = PAPER_PRESETS[preset]
    accuracy, latency, energy = np.array([0.93, 0.71]), np.array([0.8, 2.4]), np.array([6.5, 13.0])
    by_hand = [
        acc + a1 * (lat / 1.2) ** w1 + a2 * (eer / 9.0) ** w2 for acc, lat, eer in zip(accuracy, latency, energy)
    ]
    np.testing.assert_allclose(reward(accuracy, latency, energy), by_hand, rtol=1e-12)
