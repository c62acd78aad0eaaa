"""The hardware half of the evaluator (README, Hardware cost): deployment layers, dataflow simulator, technology constants."""

from yoso.hw.layers import LAYER_KINDS, Deploy, Layer, count_params, deployment_layers, layer_from_record, op_layers
from yoso.hw.simulator import (
    BREAKDOWN_KEYS,
    LayerResult,
    SimResult,
    clear_cache,
    evaluate,
    simulate,
    simulate_layer,
)
from yoso.hw.tech import LEVELS, Tech, UnitCosts, load_tech

__all__ = [
    "LAYER_KINDS",
    "Deploy",
    "Layer",
    "count_params",
    "deployment_layers",
    "layer_from_record",
    "op_layers",
    "BREAKDOWN_KEYS",
    "LayerResult",
    "SimResult",
    "clear_cache",
    "evaluate",
    "simulate",
    "simulate_layer",
    "LEVELS",
    "Tech",
    "UnitCosts",
    "load_tech",
]
