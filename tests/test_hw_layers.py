"""Deployment layers: the layer model agrees with the PyTorch ops and with DARTS' published size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yoso.config import ConfigError
from yoso.hw.layers import Deploy, Layer, count_params, deployment_layers, op_layers
from yoso.nn.ops import build_op
from yoso.space import KNOWN_GENOTYPES, known_genotype
from yoso.space.ops import OPS


def _module_counts(module: nn.Module, x: torch.Tensor) -> tuple[int, int, tuple[int, ...]]:
    """(conv/linear weights, MACs counted by forward hooks, output shape) of a real module."""
    macs = 0

    def hook(mod: nn.Module, inputs, out) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            macs += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            macs += out.numel() * mod.kernel_size**2

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    with torch.no_grad():
        out = module(x)
    for h in handles:
        h.remove()
    params = sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    return params, macs, tuple(out.shape)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", sorted(OPS))
def test_layers_match_modules(name: str, stride: int) -> None:
    c, h, w = 8, 12, 10
    layers = op_layers(name, c, h, w, stride)
    params, macs, out_shape = _module_counts(build_op(name, c, stride), torch.randn(1, c, h, w))
    assert sum(l.params for l in layers) == params
    assert sum(l.macs for l in layers) == macs
    if layers:  # the last layer's output is the op's output map (FactorizedReduce: half the channels each)
        last = layers[-1]
        k = last.K * (2 if name == "skip_connect" else 1)
        assert (1, k, last.out_h, last.out_w) == out_shape
    else:
        assert out_shape == (1, c, h, w) and stride == 1


def test_darts_v2_has_3_3m_parameters() -> None:
    """DARTS (Liu et al., ICLR 2019) Table 1: DARTS (second order) on CIFAR-10 has 3.3M parameters."""
    layers = deployment_layers(known_genotype("DARTS_V2"), Deploy(channels=36, cells=20, num_classes=10))
    with_bn, without_bn = count_params(layers), count_params(layers, bn=False)
    assert abs(with_bn - 3.3e6) / 3.3e6 < 0.03
    assert abs(without_bn - 3.3e6) / 3.3e6 < 0.03
    assert with_bn - without_bn == sum(2 * l.K for l in layers if l.bn)


def test_macro_structure() -> None:
    d = Deploy()
    layers = deployment_layers(known_genotype("DARTS_V2"), d)
    assert layers[0].name == "stem" and layers[0].K == d.stem_multiplier * d.channels
    assert layers[-1].kind == "fc" and layers[-1].K == d.num_classes
    # reductions at 1/3 and 2/3: three resolutions, channels doubling
    pre1 = [l for l in layers if l.name.endswith("pre1")]
    assert len(pre1) == d.cells
    # a reduction cell preprocesses at the previous resolution, then its nodes halve it
    assert {(l.K, l.H) for l in pre1} == {(36, 32), (72, 32), (72, 16), (144, 16), (144, 8)}
    assert layers[-2].kind == "pool_avg" and layers[-2].H == 8 and layers[-2].C == 4 * 144
    for g in KNOWN_GENOTYPES.values():
        assert all(l.macs > 0 for l in deployment_layers(g, d))


def test_layer_shapes() -> None:
    l = Layer("conv", 16, 32, 15, 15, 3, 3, stride=2, padding=1)
    assert (l.out_h, l.out_w) == (8, 8) and l.macs == 32 * 64 * 16 * 9 and l.params == 32 * 16 * 9
    with pytest.raises(ValueError, match="groups"):
        Layer("dwconv", 16, 16, 8, 8, 3, 3, groups=3)
    with pytest.raises(ValueError, match="kind"):
        Layer("deconv", 1, 1, 1, 1)


def test_deploy_validation() -> None:
    with pytest.raises(ConfigError, match="hw.deploy.channels"):
        Deploy(channels=0)
    with pytest.raises(ConfigError, match="input_shape"):
        Deploy(input_shape=(3, 32))
