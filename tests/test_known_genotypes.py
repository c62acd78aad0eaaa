"""The published genotypes: loadable by name, valid cell graphs, cited, buildable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from yoso.config import ConfigError
from yoso.nn.ops import build_op
from yoso.space import CELL_TYPES, KNOWN_GENOTYPES, SOURCES, Genotype, known_genotype, load_genotype
from yoso.space.ops import OPS

NAMES = ["NASNet-A", "AmoebaNet-A", "DARTS_V1", "DARTS_V2", "ENAS", "PNAS"]


def test_all_six_are_known_and_cited() -> None:
    assert list(KNOWN_GENOTYPES) == NAMES
    for name in NAMES:
        src = SOURCES[name]
        assert re.fullmatch(r"[0-9a-f]{40}", src.commit), name
        assert src.repository.count("/") == 1 and src.path.endswith(".py")


@pytest.mark.parametrize("name", NAMES)
def test_loads_by_name_as_a_valid_graph(name: str) -> None:
    genotype = known_genotype(name)
    assert known_genotype(name.lower().replace("-", "_")) is genotype
    genotype.validate()
    for cell in CELL_TYPES:
        assert genotype.num_nodes(cell) in (4, 5)
        assert genotype.ops() <= set(OPS)
    assert Genotype.from_yaml(genotype.to_yaml()) == genotype


def test_transcriptions_keep_their_published_shape() -> None:
    # Spot checks against the cited files.
    assert known_genotype("DARTS_V2").normal[-1] == ("dil_conv_3x3", 2)
    assert known_genotype("AmoebaNet-A").reduce[8] == ("conv_7x1_1x7", 0)
    assert known_genotype("NASNet-A").reduce_concat == (4, 5, 6)
    assert known_genotype("ENAS").reduce_concat == (2, 3, 6)
    assert known_genotype("PNAS").normal == known_genotype("PNAS").reduce
    assert known_genotype("DARTS_V1").num_nodes("normal") == 4


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown genotype 'resnet'; known: .*DARTS_V2"):
        known_genotype("resnet")


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_registered_op_builds_and_keeps_channels(name: str, stride: int) -> None:
    op = build_op(name, channels=8, stride=stride)
    out = op(torch.randn(2, 8, 8, 8))
    assert out.shape == (2, 8, 8 // stride, 8 // stride)


def test_load_genotype_from_a_name_or_a_file(tmp_path) -> None:
    from yoso.config import ConfigError
    from yoso.space import load_genotype

    assert load_genotype("darts_v2") is known_genotype("DARTS_V2")
    path = tmp_path / "g.yaml"
    path.write_text(known_genotype("ENAS").to_yaml())
    assert load_genotype(str(path)) == known_genotype("ENAS")
    (tmp_path / "g.json").write_text(known_genotype("PNAS").to_json())
    assert load_genotype(str(tmp_path / "g.json")) == known_genotype("PNAS")
    best = {"genotype": known_genotype("ENAS").to_dict(), "accuracy": 0.9, "accelerator_str": "16x16"}
    (tmp_path / "best.yaml").write_text(yaml.safe_dump(best))  # a search run's result: its genotype
    assert load_genotype(str(tmp_path / "best.yaml")) == known_genotype("ENAS")
    with pytest.raises(ConfigError, match="genotype='resnet'"):
        load_genotype("resnet")
    path.write_text("normal: [[conv9x9, 0]]\nnormal_concat: [2]\nreduce: []\nreduce_concat: []\n")
    with pytest.raises(ConfigError, match="a valid genotype file"):
        load_genotype(str(path))


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("normal: [a, b\n  reduce: {", "it does not parse at line 2, column 9"),
        ("[1, 2]\n", "a valid genotype file (genotype mapping lacks"),
    ],
)
def test_malformed_genotype_file_is_one_config_error(tmp_path: Path, text: str, allowed: str) -> None:
    """A genotype file that is not YAML, or not a genotype, stops with a ConfigError (one line, exit 2), not a traceback."""
    path = tmp_path / "genotype.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_genotype(str(path))
    assert info.value.key == "genotype" and allowed in info.value.allowed and "\n" not in str(info.value)
