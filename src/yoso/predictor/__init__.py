"""Hardware cost: features, simulator sample sets, the GP predictor, the cost MLP, regressor comparison.

``build_cost_model(cfg)`` gives a run's cost model (the ``cost_model`` group: gp, simulator or mlp).
"""

from yoso.predictor.cost import (
    CostModel,
    DifferentiableCostModel,
    GPCostModel,
    HwSetup,
    SimulatorCostModel,
    UncertainCostModel,
    build_cost_model,
)

__all__ = [
    "CostModel",
    "DifferentiableCostModel",
    "GPCostModel",
    "HwSetup",
    "SimulatorCostModel",
    "UncertainCostModel",
    "build_cost_model",
]
