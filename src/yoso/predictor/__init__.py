"""Hardware performance predictor: features, simulator sample sets, GP, regressor comparison.

``hardware_evaluator(cfg)`` gives a run's energy/latency evaluator (``hw.evaluator=gp|simulator``).
"""

from yoso.predictor.evaluator import GPEvaluator, HwSetup, SimulatorEvaluator, hardware_evaluator

__all__ = ["GPEvaluator", "HwSetup", "SimulatorEvaluator", "hardware_evaluator"]
