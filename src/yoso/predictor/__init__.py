"""Hardware cost: features, reference sample sets, the GP predictor, the cost MLP, regressor comparison.

``build_cost_model(node, setup)`` gives a run's cost model (the ``cost_model`` group: gp, simulator or mlp),
``reference_cost(setup)`` its reference cost (the ``reference_cost`` group); the app's ``Run`` calls both.
"""

from yoso.predictor.cost import (
    CostModel,
    DifferentiableCostModel,
    GPCostModel,
    HwSetup,
    ReferenceCostModel,
    SimulatorCostModel,
    UncertainCostModel,
    build_cost_model,
    reference_cost,
)

__all__ = [
    "CostModel",
    "DifferentiableCostModel",
    "GPCostModel",
    "HwSetup",
    "ReferenceCostModel",
    "SimulatorCostModel",
    "UncertainCostModel",
    "build_cost_model",
    "reference_cost",
]
