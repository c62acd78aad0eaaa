"""Genotype and Accelerator dataclasses: validity, hashing, readable str, serialisation."""

from __future__ import annotations

import dataclasses

import pytest

from yoso.config import ConfigError
from yoso.space import Accelerator, Genotype, GenotypeError

NODES = [
    (0, "conv3x3", 1, "dwconv5x5"),
    (2, "maxpool3x3", 0, "conv5x5"),
    (1, "avgpool3x3", 3, "conv3x3"),
    (2, "dwconv3x3", 2, "conv3x3"),
    (4, "conv5x5", 0, "avgpool3x3"),
]


@pytest.fixture
def genotype() -> Genotype:
    return Genotype.from_nodes(NODES, [(0, "conv3x3", 1, "conv5x5")] * 5)


def test_concat_is_the_nodes_feeding_no_other_node(genotype: Genotype) -> None:
    # Normal: node 2 feeds 3 and 5, node 3 feeds 4, node 4 feeds 6; nodes 5 and 6 are loose.
    assert genotype.normal_concat == (5, 6)
    assert genotype.nodes("normal") == tuple(NODES)
    assert genotype.num_nodes("reduce") == 5


def test_frozen_hashable_and_equal_by_value(genotype: Genotype) -> None:
    twin = Genotype.from_dict(genotype.to_dict())
    assert twin == genotype and hash(twin) == hash(genotype)
    assert len({genotype, twin}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        genotype.normal_concat = (2,)  # type: ignore[misc]


def test_json_and_yaml_round_trip(genotype: Genotype) -> None:
    assert Genotype.from_json(genotype.to_json()) == genotype
    assert Genotype.from_yaml(genotype.to_yaml()) == genotype


def test_readable_str(genotype: Genotype) -> None:
    text = str(genotype)
    assert "normal: n2=conv3x3(n0)+dwconv5x5(n1)" in text
    assert "concat[5, 6]" in text
    assert text.count("\n") == 1


@pytest.mark.parametrize(
    ("normal", "concat", "message"),
    [
        ((("conv3x3", 2), ("conv3x3", 0)), (2,), r"node 2 takes input 2, allowed \[0, 2\)"),
        ((("conv9x9", 0), ("conv3x3", 0)), (2,), "unknown op 'conv9x9'"),
        ((("conv3x3", 0),), (2,), "two edges per computed node"),
        ((("conv3x3", 0), ("conv3x3", 1)), (3,), r"computed nodes are \[2, 3\)"),
        ((("conv3x3", 0), ("conv3x3", 1), ("conv3x3", 0), ("conv3x3", 1)), (3,), r"nodes \[2\] feed neither"),
    ],
)
def test_invalid_cells_are_rejected(normal, concat, message: str) -> None:
    ok = (("conv3x3", 0), ("conv3x3", 1))
    with pytest.raises(GenotypeError, match=message):
        Genotype(normal, concat, ok, (2,))


def test_accelerator_validates_its_fields() -> None:
    acc = Accelerator(14, 16, 256, 128, "OS")
    assert acc.num_pes == 224 and str(acc) == "14x16/256KB/128B/OS"
    assert Accelerator.from_dict(acc.to_dict()) == acc
    with pytest.raises(ConfigError, match=r"pe_rows/pe_cols='32x32'.*rows in \[8, 16\] and cols in \[8, 32\]"):
        Accelerator(32, 32, 256, 128, "OS")
    with pytest.raises(ConfigError, match=r"gbuf_kb=64: allowed an integer in \[108, 1024\]"):
        Accelerator(16, 16, 64, 128, "OS")
    with pytest.raises(ConfigError, match=r"rbuf_bytes=2048: allowed an integer in \[64, 1024\]"):
        Accelerator(16, 16, 512, 2048, "OS")
    with pytest.raises(
        ConfigError,
        match=r"dataflow='XY': allowed a named dataflow \['WS', 'OS', 'RS', 'IS', 'NLR'\] or a connectivity",
    ):
        Accelerator(16, 16, 512, 128, "XY")


def test_accelerator_outside_the_paper_ranges() -> None:
    """An external tool's accelerator (e.g. a 64 KB buffer) is the same type, equal to one with the same sizes."""
    acc = Accelerator(12, 14, 64, 512, "WS", limits=None)
    assert str(acc) == "12x14/64KB/512B/WS" and acc.num_pes == 168
    assert Accelerator(16, 16, 128, 512, "RS", limits=None) == Accelerator(16, 16, 128, 512, "RS")
    with pytest.raises(ConfigError, match=r"gbuf_kb=0"):
        Accelerator(16, 16, 0, 128, "OS", limits=None)
    with pytest.raises(ConfigError, match=r"dataflow='XY'"):
        Accelerator(16, 16, 64, 128, "XY", limits=None)
