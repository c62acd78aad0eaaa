"""Switchable-precision fake quantisation: the weights and input activations of every conv and of the classifier
at the bits of the stage that runs them, with a straight-through estimator.

A quantised network (a precision space's HyperNet, or a stand-alone network of a genotype with a ``precision``)
shares one :class:`ActivePrecision`; :meth:`yoso.nn.cells.MacroNet.run` sets it to the stem's, each stage's and
the classifier's bits as it runs them, so one set of weights trains and evaluates at any sampled precision
(Auto-NBA's and APQ's switchable precision). Quantisation is uniform and per tensor: weights symmetric signed,
activations unsigned when they hold no negative value (after a ReLU) and symmetric signed otherwise, each scaled
by its own range (weights: their largest magnitude; activations: the batch's). It uses PyTorch's own kernel,
``torch.fake_quantize_per_tensor_affine`` (straight-through gradient inside the range): a dependency-free,
maintained operator, where brevitas would add a package and module classes that the HyperNet's slicing and
slot layers do not use, and ``torch.ao.quantization`` is deprecated. BatchNorm statistics need no copy per
precision: the evaluator re-estimates them for each sub-network, precision included (:mod:`yoso.nn.evaluate`).
"""

from __future__ import annotations

import torch
from torch import nn


class ActivePrecision:
    """The bits a quantised network's layers run at now (None: unquantised), shared by all of them."""

    def __init__(self) -> None:
        self.bits: int | None = None


def active_bits(precision: ActivePrecision | None) -> int | None:
    """The bits a layer holding ``precision`` runs at now (None: unquantised, or a layer of no quantised network)."""
    return None if precision is None else precision.bits


def fake_quantise(x: torch.Tensor, bits: int | None, signed: bool | None = None) -> torch.Tensor:
    """``x`` rounded to ``bits``-bit uniform levels over its own range (per tensor), straight-through gradient.

    ``signed`` None: signed exactly when ``x`` holds a negative value. None ``bits``: ``x`` as is.
    """
    if bits is None:
        return x
    values = x.detach()
    if signed is None:
        signed = bool(values.min() < 0)
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    scale = (values.abs().amax().float() / top).clamp_min(torch.finfo(torch.float32).tiny)
    zero = torch.zeros((), dtype=torch.int32, device=x.device)
    return torch.fake_quantize_per_tensor_affine(x, scale, zero, -top if signed else 0, top)


def make_quantised(module: nn.Module, precision: ActivePrecision) -> None:
    """Quantise every conv and slot layer under ``module`` at ``precision``: each Conv2d becomes an
    :class:`~yoso.nn.elastic.ElasticConv2d` (same parameters; it quantises its input and weight)."""
    from yoso.nn.cells import SlotClassifier, SlotPreprocess
    from yoso.nn.elastic import ElasticConv2d

    for m in module.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = ElasticConv2d
        if isinstance(m, (ElasticConv2d, SlotPreprocess, SlotClassifier)):
            m.precision = precision
