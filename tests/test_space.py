"""The joint search space: decision order, vocabularies, sampling, decode/encode, validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from yoso.space import Accelerator, Genotype, JointSpace, known_genotype
from yoso.space.joint import NODE_FIELDS


@pytest.fixture(scope="module")
def space(paper_space: JointSpace) -> JointSpace:
    """This module checks the paper's 44-decision space (test_elastic.py: the elastic one)."""
    return paper_space


def test_44_decisions_with_their_vocab_sizes(space: JointSpace) -> None:
    per_cell = []
    for node in range(2, 7):  # inputs in [0, node), 6 ops
        per_cell += [node, 6, node, 6]
    accel = [len(space.accelerators.options("pe_array")), 6, 5, 4]
    assert len(space) == 44
    assert space.num_dnn_decisions == 40 and space.num_accel_decisions == 4
    assert space.vocab_sizes.tolist() == per_cell + per_cell + accel
    assert space.names[0] == "normal.node2.input_a"
    assert space.names[20] == "reduce.node2.input_a"
    assert space.names[39] == "reduce.node6.op_b"
    assert space.names[40:] == tuple(f"accel.{f}" for f in ("pe_array", "gbuf_kb", "rbuf_bytes", "dataflow"))
    assert NODE_FIELDS == ("input_a", "op_a", "input_b", "op_b")
    assert space.accelerators.size == 8 * 6 * 5 * 4
    assert space.size == int(np.prod(space.vocab_sizes.astype(object)))


def test_encode_decode_round_trip_on_10k_samples(space: JointSpace) -> None:
    vectors = space.sample(10_000, rng=0)
    assert vectors.shape == (10_000, 44) and vectors.dtype == np.int64
    for vec, (genotype, accelerator) in zip(vectors, space.decode_many(vectors)):
        assert isinstance(genotype, Genotype) and isinstance(accelerator, Accelerator)
        np.testing.assert_array_equal(space.encode(genotype, accelerator), vec)


def test_decode_builds_the_cell_the_vector_describes(space: JointSpace) -> None:
    vec = np.zeros(44, dtype=np.int64)
    vec[0:4] = [1, 2, 0, 4]  # normal node 2: dwconv3x3(n1) + maxpool3x3(n0)
    vec[40:] = [7, 5, 2, 3]
    genotype, acc = space.decode(vec)
    assert genotype.nodes("normal")[0] == (1, "dwconv3x3", 0, "maxpool3x3")
    # Every node takes node 0 or 1 only, so all five computed nodes are loose ends.
    assert genotype.normal_concat == (2, 3, 4, 5, 6)
    assert acc == Accelerator(16, 32, 1024, 256, "NLR")
    assert str(acc) == "16x32/1024KB/256B/NLR"


def test_sampling_is_reproducible_from_the_seed(space: JointSpace) -> None:
    np.testing.assert_array_equal(space.sample(100, rng=7), space.sample(100, rng=7))
    assert not np.array_equal(space.sample(100, rng=7), space.sample(100, rng=8))


def _uniformity_pvalues(samples: np.ndarray, vocab_sizes: np.ndarray) -> np.ndarray:
    """Chi-square goodness-of-fit p-value of each decision's counts against uniform."""
    return np.array(
        [stats.chisquare(np.bincount(samples[:, d], minlength=int(v))).pvalue for d, v in enumerate(vocab_sizes)]
    )


def _looks_uniform(samples: np.ndarray, vocab_sizes: np.ndarray, alpha: float = 1e-3) -> bool:
    """All decisions pass chi-square at a Bonferroni-corrected level."""
    return bool(_uniformity_pvalues(samples, vocab_sizes).min() > alpha / len(vocab_sizes))


def test_uniform_sampling_passes_chi_square(space: JointSpace) -> None:
    samples = space.sample(30_000, rng=123)
    assert _looks_uniform(samples, space.vocab_sizes)
    # Paper eq. 6: each input of node i has probability 1/i per draw; each op 1/6.
    np.testing.assert_allclose(np.bincount(samples[:, 16], minlength=6) / 30_000, 1 / 6, atol=0.01)


def test_chi_square_check_rejects_a_biased_sampler(space: JointSpace) -> None:
    rng = np.random.default_rng(123)
    # A classic bug: reduce a fixed-range draw modulo the vocabulary (favours small indices).
    biased = rng.integers(0, 8, size=(30_000, len(space))) % space.vocab_sizes
    assert not _looks_uniform(biased, space.vocab_sizes)
    # Subtle bias on a single decision is caught too.
    subtle = space.sample(30_000, rng=5)
    flip = rng.random(30_000) < 0.05
    subtle[flip, 41] = 0
    assert not _looks_uniform(subtle, space.vocab_sizes)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda v: v.__setitem__((0, 0), 2), "decision 0 (normal.node2.input_a) = 2, allowed [0, 2)"),
        (lambda v: v.__setitem__((0, 43), -1), "decision 43 (accel.dataflow) = -1, allowed [0, 4)"),
        (lambda v: v.__setitem__((0, 1), 6), "decision 1 (normal.node2.op_a) = 6, allowed [0, 6)"),
    ],
)
def test_check_names_the_bad_decision(space: JointSpace, mutate, message: str) -> None:
    vectors = space.sample(3, rng=0)
    mutate(vectors)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        space.check(vectors)


def test_check_rejects_wrong_shapes_and_non_integers(space: JointSpace) -> None:
    with pytest.raises(ValueError, match="expected candidates of 44 decisions"):
        space.check(np.zeros((2, 43), dtype=int))
    with pytest.raises(ValueError, match="must be integers"):
        space.check(np.full(44, 0.5))


def test_encode_explains_pairs_outside_the_space(space: JointSpace) -> None:
    genotype, acc = space.decode(space.sample(1, rng=0)[0])
    with pytest.raises(ValueError, match="4 computed nodes; this space has 5"):
        space.encode(known_genotype("DARTS_V2"), acc)
    with pytest.raises(ValueError, match="'sep_conv_5x5', not in this space's ops"):
        space.encode(known_genotype("NASNet-A"), acc)
    with pytest.raises(ValueError, match="gbuf_kb value 300 is not among the choices"):
        space.encode(genotype, Accelerator(16, 32, 300, 128, "OS"))
    # Node 2 feeds node 3, so YOSO's cell would not concatenate it; a DARTS-style cell may.
    nodes = [(0, "conv3x3", 1, "conv3x3"), (2, "conv3x3", 0, "conv3x3")] + [(0, "conv3x3", 1, "conv3x3")] * 3
    yoso_cell = Genotype.from_nodes(nodes, nodes)
    assert yoso_cell.normal_concat == (3, 4, 5, 6)
    darts_style = Genotype(yoso_cell.normal, (2, 3, 4, 5, 6), yoso_cell.reduce, yoso_cell.reduce_concat)
    with pytest.raises(ValueError, match=r"concatenates \[2, 3, 4, 5, 6\]; this space always concatenates"):
        space.encode(darts_style, acc)
