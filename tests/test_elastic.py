"""The elastic space (space=yoso_elastic): width/depth decisions, the sliced HyperNet, scaled deployment, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_config, run_entry, space_of, supernet_of

from yoso.app.cli import CONFIG_ERROR_EXIT
from yoso.app.run import validate_config
from yoso.hw.layers import Deploy, deployment_layers
from yoso.nn.hypernet import HyperNet
from yoso.nn.modules import ChildModule
from yoso.space import JointSpace
from yoso.space.genotype import Genotype, GenotypeError
from yoso.space.joint import kept_cells

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def elastic() -> JointSpace:
    return space_of(compose_config("search", ["space=yoso_elastic"]))


def test_elastic_space_appends_width_and_depth_before_the_accelerator(elastic: JointSpace) -> None:
    assert elastic.elastic and len(elastic) == 46 and elastic.num_dnn_decisions == 42
    assert elastic.names[40:42] == ("net.width", "net.depth")
    assert elastic.decisions[40].choices == (0.25, 0.5, 0.75, 1.0) and elastic.decisions[41].choices == (1, 2, 3)
    for vector in elastic.sample(20, 3):
        genotype, accelerator = elastic.decode(vector)
        assert genotype.width == elastic.scale.widths[vector[40]]
        assert genotype.depth == pytest.approx(elastic.scale.depths[vector[41]] / 3, abs=1e-6)
        np.testing.assert_array_equal(elastic.encode(genotype, accelerator), vector)
        assert Genotype.from_dict(genotype.to_dict()) == genotype


def test_paper_space_is_unchanged_and_refuses_scaled_genotypes(space: JointSpace, elastic: JointSpace) -> None:
    paper = space_of(compose_config("search", ["space=yoso"]))
    assert len(paper) == 44 and not paper.elastic
    genotype, accelerator = elastic.decode(elastic.sample(1, 0)[0])
    small = dataclasses.replace(genotype, width=0.5)
    with pytest.raises(ValueError, match="no network-scale decisions"):
        paper.encode(small, accelerator)
    assert "width" not in dataclasses.replace(genotype, width=1.0, depth=1.0).to_dict()


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.25, True])
def test_genotype_scale_must_be_a_fraction(bad: float) -> None:
    genotype = space_of(compose_config("search", ["space=yoso"])).decode(np.zeros(44, int))[0]
    with pytest.raises(GenotypeError, match="fraction must lie in"):
        dataclasses.replace(genotype, width=bad)


def test_depth_keeps_the_reductions_and_the_first_cells_of_each_stage() -> None:
    assert kept_cells(11, 1 / 3) == [0, 3, 4, 7, 8]
    assert kept_cells(11, 2 / 3) == [0, 1, 3, 4, 5, 7, 8, 9]
    assert kept_cells(11, 1.0) == list(range(11))
    assert kept_cells(20, 1 / 3) == [0, 1, 6, 7, 8, 13, 14, 15]  # the deployment macro: 2 of 6 per stage


def test_deployment_cost_follows_width_and_depth(elastic: JointSpace) -> None:
    genotype = elastic.decode(elastic.sample(1, 1)[0])[0]
    macs = {
        (w, d): sum(l.macs for l in deployment_layers(dataclasses.replace(genotype, width=w, depth=d)))
        for w in elastic.scale.widths
        for d in (1 / 3, 2 / 3, 1.0)
    }
    for d in (1 / 3, 2 / 3, 1.0):
        assert [macs[(w, d)] for w in elastic.scale.widths] == sorted({macs[(w, d)] for w in elastic.scale.widths})
    for w in elastic.scale.widths:
        assert macs[(w, 1 / 3)] < macs[(w, 2 / 3)] < macs[(w, 1.0)]
    full = dataclasses.replace(genotype, width=1.0, depth=1.0)
    assert deployment_layers(full) == deployment_layers(Genotype.from_dict({**full.to_dict()}))
    stem = deployment_layers(dataclasses.replace(genotype, width=0.25), Deploy())[0]
    assert stem.K == 3 * 9  # 36 channels x 0.25, times the stem multiplier


@pytest.fixture
def float64():
    """Networks built in float64, so that equal maths compares equal up to rounding of deep chains."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(dtype)


@pytest.mark.parametrize("train", [False, True])
def test_sliced_subnetwork_equals_the_standalone_network_with_inherited_weights(
    elastic: JointSpace, train: bool, float64: None
) -> None:
    """Every width and depth: the HyperNet's path equals ChildNet(genotype) holding the leading slices of its weights."""
    torch.manual_seed(0)
    net = HyperNet(elastic.cells, (1, 14, 14), 10, channels=8, scale=elastic.scale, dirac_init=0.3)
    assert len(net.cells) == 11 and net.cells[3].pre0_stem is not None  # depth 1: the first reduction reads the stem
    with torch.no_grad():
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.2, 0.2), bn.running_var.uniform_(0.8, 1.2), bn.weight.uniform_(0.8, 1.2)
    x = torch.randn(6, 1, 14, 14)
    base = elastic.decode(elastic.sample(1, 7)[0])[0]
    for width in elastic.scale.widths:
        for depth in elastic.scale.depths:
            genotype = dataclasses.replace(base, width=width, depth=elastic.scale.depth_fraction(depth))
            child = net.child(genotype)
            assert len(child.cells) == 3 * depth + 2 and child.stem[0].out_channels == 3 * round(8 * width)
            net.train(train), child.train(train)
            with torch.no_grad():
                torch.testing.assert_close(net(x, genotype), child(x), rtol=1e-9, atol=1e-9)


def test_sandwich_trains_largest_smallest_and_the_drawn_path() -> None:
    cfg = compose_config("search", ["space=yoso_elastic", "model.sandwich=true"])
    module = supernet_of(cfg)
    largest, smallest, drawn = module.training_paths(5)
    assert (largest.width, largest.depth) == (1.0, 1.0)
    assert (smallest.width, smallest.depth) == (0.25, pytest.approx(1 / 3, abs=1e-6))
    assert largest.normal == smallest.normal == drawn.normal and drawn == module.genotype(module.path_vector(5))
    paper = supernet_of(compose_config("search", ["space=yoso"]))
    assert len(paper.training_paths(5)) == 1 and len(paper.net.cells) == 6
    uniform = supernet_of(compose_config("search", ["model.sandwich=false"]))
    assert uniform.training_paths(5) == [drawn]


def test_standalone_network_of_an_elastic_genotype_uses_the_elastic_macro(elastic: JointSpace) -> None:
    cfg = compose_config("search", ["space=yoso_elastic"])
    genotype = dataclasses.replace(
        elastic.decode(elastic.sample(1, 2)[0])[0], width=0.5, depth=elastic.scale.depth_fraction(2)
    )
    module = ChildModule.from_groups(cfg.model.standalone, cfg.data, cfg.space, genotype)
    assert len(module.net.cells) == 8 and module.net.cells[0].plan.channels == 4  # 8 channels x 0.5
    with pytest.raises(ValueError, match="needs the config's space"):
        ChildModule.from_groups(cfg.model.standalone, cfg.data, None, genotype)
    from yoso.app.two_stage import standalone_key

    assert standalone_key(validate_config(cfg)) != standalone_key(
        validate_config(compose_config("search", ["space=yoso"]))
    )


@pytest.mark.parametrize(
    "overrides", [("space=yoso_elastic", "space.widths=[0,1]"), ("space=yoso_elastic", "strategy=differentiable")]
)
def test_search_stops_at_start_up_with_exit_status_2(tmp_path: Path, overrides: tuple[str, ...]) -> None:
    result = run_entry("search.py", tmp_path, "experiment=smoke", *overrides)
    output = result.stdout + result.stderr
    assert result.returncode == CONFIG_ERROR_EXIT, output
    assert "Traceback" not in output and "config valid" not in output
    expected = "space.widths[0]=0" if "widths" in overrides[1] else "strategy=differentiable"
    assert expected in output, output
