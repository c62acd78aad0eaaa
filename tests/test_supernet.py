"""HyperNet, single-path sampling, sub-network evaluation and stand-alone networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from yoso.nn import ChildNet, HyperNet, SubnetEvaluator, SupernetModule, edge_key
from yoso.nn.cells import macro_plan
from yoso.space import Genotype, known_genotype
from yoso.space.genotype import NUM_INPUT_NODES
from yoso.space.ops import YOSO_OPS

torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and robust when the cores are shared

ACCEL = {"pe_arrays": ["8x8", "16x32"], "gbuf_kb": [108, 512], "rbuf_bytes": [64, 512], "dataflows": ["WS", "OS"]}
SPACE = {"ops": list(YOSO_OPS), "num_nodes": 5}


def small_module(seed: int = 0, **kwargs) -> SupernetModule:
    args = dict(
        space=SPACE,
        accelerator=ACCEL,
        input_shape=(1, 8, 8),
        num_classes=10,
        channels=4,
        cells=3,
        bn_recalibration_batches=2,
        val_paths=2,
        seed=seed,
    )
    return SupernetModule(**{**args, **kwargs})


@pytest.fixture(scope="module")
def module() -> SupernetModule:
    return small_module()


def test_macro_has_reductions_at_one_and_two_thirds() -> None:
    plan = macro_plan(6, 16)
    assert [p.reduction for p in plan] == [False, False, True, False, True, False]
    assert [p.channels for p in plan] == [16, 16, 32, 32, 64, 64]
    assert [p.reduction_prev for p in plan] == [False, False, False, True, False, True]


def test_training_paths_are_uniform_over_the_space(module: SupernetModule) -> None:
    """Chi-square per decision over 3000 training steps' paths (paper eq. 6: uniform per decision)."""
    vectors = np.stack([module.path_vector(step) for step in range(3000)])
    assert np.array_equal(vectors[17], module.path_vector(17))  # a function of (seed, step) only
    assert len(np.unique(vectors, axis=0)) == len(vectors)
    p_values = []
    for d, vocab in enumerate(module.space.vocab_sizes):
        counts = np.bincount(vectors[:, d], minlength=vocab)
        assert len(counts) == vocab
        p_values.append(stats.chisquare(counts).pvalue)
    # Bonferroni over the 44 decisions at a 1e-3 family-wise level
    assert min(p_values) > 1e-3 / len(p_values), min(p_values)
    # and the decoded genotypes use every op in every node of both cell types
    ops = {
        (cell, k, op)
        for v in vectors[:200]
        for cell in ("normal", "reduce")
        for k, (_, op, _, _) in enumerate(module.genotype(v).nodes(cell))
    }
    assert len(ops) == 2 * 5 * len(YOSO_OPS)


def test_other_seed_gives_other_paths() -> None:
    a, b = small_module(seed=0), small_module(seed=1)
    assert not np.array_equal(a.path_vector(0), b.path_vector(0))


def _expected_path_parameters(net: HyperNet, genotype: Genotype) -> set[str]:
    """Parameter names on a genotype's path, derived from the genotype alone."""
    names = {n for n, _ in net.stem.named_parameters(prefix="stem")}
    prev = [(0,), (0,)]
    for i, cell in enumerate(net.cells):
        kind = cell.plan.cell_type
        inputs = {node for _, node in genotype.edges(kind)}
        for j, pre in enumerate(("pre0", "pre1")):
            if j in inputs:
                parts = 2 if pre == "pre0" and cell.plan.reduction_prev else 1
                names |= {f"cells.{i}.{pre}.weights.{p}.{s}" for p in range(parts) for s in prev[j]}
                names |= {f"cells.{i}.{pre}.bn.weight", f"cells.{i}.{pre}.bn.bias"}
        for k, (in_a, op_a, in_b, op_b) in enumerate(genotype.nodes(kind)):
            for node_in, op in ((in_a, op_a), (in_b, op_b)):
                key = edge_key(NUM_INPUT_NODES + k, node_in, op)
                names |= {n for n, _ in cell.candidates[key].named_parameters(prefix=f"cells.{i}.candidates.{key}")}
        prev = [prev[1], tuple(n - NUM_INPUT_NODES for n in genotype.concat(kind))]
    names |= {f"classifier.weights.{s}" for s in prev[1]} | {"classifier.bias"}
    names |= {f"classifier.bns.{s}.{w}" for s in prev[1] for w in ("weight", "bias")}
    return names


def test_only_the_sampled_path_gets_gradients(module: SupernetModule) -> None:
    net = module.net
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for step in range(3):
        genotype = module.genotype(module.path_vector(step))
        net.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, genotype), y).backward()
        got = {n for n, p in net.named_parameters() if p.grad is not None}
        expected = _expected_path_parameters(net, genotype)
        assert got == expected
        assert len(got) < 0.2 * len(list(net.parameters()))


def test_an_sgd_step_leaves_parameters_off_the_path_unchanged() -> None:
    module = small_module()
    net = module.net
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=4e-5)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for step in range(2):  # the second step has momentum buffers from the first path
        genotype = module.genotype(module.path_vector(step))
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        sgd.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, genotype), y).backward()
        sgd.step()
        on_path = _expected_path_parameters(net, genotype)
        changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
        assert changed and changed <= on_path


def test_sub_network_equals_the_stand_alone_network_with_inherited_weights(module: SupernetModule) -> None:
    """The variable-width concat is exact: HyperNet path == ChildNet of the genotype's real concat."""
    net = module.net.eval()
    x = torch.randn(5, 1, 8, 8)
    for step in range(4):
        genotype = module.genotype(module.path_vector(step))
        child = net.child(genotype).eval()
        for cell, plan in zip(child.cells, macro_plan(3, 4)):
            assert len(cell.edges) == 2 * genotype.num_nodes(plan.cell_type)
        with torch.no_grad():
            assert torch.allclose(net(x, genotype), child(x), atol=1e-5)


def test_evaluation_is_deterministic_order_free_and_cached() -> None:
    torch.manual_seed(5)  # train.py seeds initialisation with pl.seed_everything(seed)
    a = small_module(seed=5)
    torch.manual_seed(5)
    b = small_module(seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    from yoso.data import DigitsDataModule

    dm = DigitsDataModule(batch_size=64, seed=5)
    genotypes = [a.genotype(v) for v in a.space.sample(4, 9)]
    before = {n: t.clone() for n, t in a.net.state_dict().items()}
    acc = a.accuracy(genotypes, datamodule=dm)
    assert acc.shape == (4,) and acc.dtype == np.float64 and np.all((acc >= 0) & (acc <= 1))
    assert np.array_equal(acc, b.accuracy(genotypes[::-1], datamodule=dm)[::-1])
    assert all(torch.equal(t, before[n]) for n, t in a.net.state_dict().items())  # BN stats restored
    evaluator = a.evaluator()
    assert set(evaluator.cache) == set(genotypes)
    assert np.array_equal(a.accuracy(genotypes[:2]), acc[:2])
    # vectors (44 decisions or the 40 DNN decisions) name the same sub-networks
    vec = a.space.sample(1, 9)[0]
    assert a.accuracy([vec])[0] == a.accuracy([vec[:40]])[0] == acc[0]


def test_bn_recalibration_makes_accuracy_independent_of_stale_statistics() -> None:
    """Stale running statistics (from other paths) must not leak into a sub-network's accuracy."""
    from yoso.data import DigitsDataModule

    module = small_module(seed=2)
    dm = DigitsDataModule(batch_size=64, seed=2)
    dm.setup()
    genotypes = [module.genotype(module.path_vector(s)) for s in range(3)]

    def measure(calibration: int) -> np.ndarray:
        return SubnetEvaluator(module.net, dm.calibration_batches(calibration), dm.val_tensors()).correct(genotypes)

    calibrated, raw = measure(2), measure(0)
    g = torch.Generator().manual_seed(0)
    for m in module.net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 3, generator=g)
            m.running_var.uniform_(0.01, 10, generator=g)
    assert np.array_equal(measure(2), calibrated)
    assert not np.array_equal(measure(0), raw)


def test_hypernet_rejects_genotypes_outside_its_space(module: SupernetModule) -> None:
    with pytest.raises(ValueError, match=r"uses ops \[.*'sep_conv_3x3'.*does not hold"):
        darts5 = known_genotype("NASNet-A")
        module.net(torch.randn(2, 1, 8, 8), darts5)
    with pytest.raises(ValueError, match="4 computed nodes; the HyperNet has 5"):
        module.net(torch.randn(2, 1, 8, 8), known_genotype("DARTS_V2"))


@pytest.mark.parametrize("name", ["DARTS_V2", "NASNet-A", "AmoebaNet-A"])
def test_child_net_builds_known_genotypes_with_their_concat(name: str) -> None:
    genotype = known_genotype(name)
    net = ChildNet(genotype, (3, 16, 16), 10, channels=4, num_cells=3)
    out = net(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10)
    # the classifier reads the last cell's real concat: len(concat) slots of the last width
    last = macro_plan(3, 4)[-1]
    assert len(net.classifier.weights) == len(genotype.concat(last.cell_type))
    # its own DARTS ops are built from the registry
    kinds = {type(m).__name__ for m in net.modules()}
    assert "SepConv" in kinds
    torch.nn.functional.cross_entropy(out, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_dirac_init_starts_every_candidate_conv_as_the_identity() -> None:
    """model.dirac_init=0: every candidate conv and pre-processing 1x1 conv is exactly the identity map."""
    from yoso.nn.ops import FactorizedReduce

    net = small_module(dirac_init=0.0).net
    x = torch.randn(3, 16, 8, 8)  # the widest cell has 16 channels
    for cell in net.cells:
        for module in cell.candidates.modules():
            if isinstance(module, torch.nn.Conv2d) and module.stride == (1, 1):
                assert torch.allclose(module(x[:, : module.in_channels]), x[:, : module.out_channels])
            if isinstance(module, FactorizedReduce):  # channel c of the output reads channel c of the input
                c = module.conv_1.in_channels
                y = torch.cat([module.conv_1(x[:, :c]), module.conv_2(x[:, :c])], dim=1)
                assert torch.allclose(y, x[:, :c, ::2, ::2])
        for pre in (cell.pre0, cell.pre1):
            for part, weights in enumerate(pre.weights):
                for w in weights:
                    rows = torch.arange(w.shape[0])
                    assert torch.equal(w[rows, (rows + part * w.shape[0]) % w.shape[1], 0, 0], torch.ones(w.shape[0]))
                    assert int((w != 0).sum()) == w.shape[0]
    # a fraction of the random init is kept on top of the identity; off by default for the bare class
    noisy, plain = small_module(dirac_init=0.3).net, small_module().net
    conv = noisy.cells[0].candidates[edge_key(2, 0, "conv3x3")].op[1].weight
    assert conv[0, 0, 1, 1] > 0.5 and int((conv != 0).sum()) > conv.shape[0]
    assert plain.dirac_init is None and small_module(dirac_init=0.3).hparams.dirac_init == 0.3
    with pytest.raises(ValueError, match="model.dirac_init"):
        small_module(dirac_init=-1.0)


def test_dirac_init_keeps_the_stand_alone_equivalence() -> None:
    module = small_module(dirac_init=0.3, seed=3)
    net = module.net.eval()
    x = torch.randn(4, 1, 8, 8)
    for step in range(2):
        genotype = module.genotype(module.path_vector(step))
        child = net.child(genotype).eval()
        assert child.dirac_init == 0.3
        with torch.no_grad():
            assert torch.allclose(net(x, genotype), child(x), atol=1e-5)


def test_race_finishes_only_candidates_that_can_reach_the_accuracy_needed() -> None:
    """The first look is the validation split's first images; the result depends on the genotype and the
    accuracy needed only (not on what was cached before), and a finished race equals the whole-split accuracy."""
    from yoso.data import DigitsDataModule

    torch.manual_seed(3)
    module = small_module(seed=3)
    dm = DigitsDataModule(batch_size=64, seed=3)
    evaluator = module.evaluator(dm, looks=[100])
    genotypes = [module.genotype(v) for v in module.space.sample(3, 4)]
    whole = module.accuracy(genotypes)
    acc, images = evaluator.race(genotypes, np.full(3, -np.inf))  # anything can enter: finish all
    assert np.array_equal(acc, whole) and np.array_equal(images, [360] * 3)
    acc, images = evaluator.race(genotypes, np.full(3, 1.5))  # nothing can: the first look alone
    assert np.array_equal(images, [100] * 3)
    reference = SubnetEvaluator(
        module.net,
        evaluator.calibration,
        [
            (x[:100], y[:100])
            for x, y in [(torch.cat([b[0] for b in dm.val_tensors()]), torch.cat([b[1] for b in dm.val_tensors()]))]
        ],
    )
    assert np.array_equal(acc, reference.accuracy(genotypes))
    # the bound: the first look's upper 95 % bound decides, per genotype
    from yoso.stats import wilson_interval

    high = wilson_interval(acc, 100)[1]
    needed = np.array([high[0] - 1e-9, high[1] + 1e-9, -np.inf])
    acc2, images2 = module.evaluator(dm, looks=[100]).race(genotypes, needed)  # a fresh cache
    assert images2.tolist() == [360, 100, 360]
    assert acc2[0] == whole[0] and acc2[1] == acc[1] and acc2[2] == whole[2]
    # a genotype asked twice in one batch with different needs is finished once and reported per ask
    acc3, images3 = evaluator.race([genotypes[0], genotypes[0]], np.array([1.5, -np.inf]))
    assert images3.tolist() == [100, 360] and acc3[1] == whole[0]


def test_race_with_two_looks_stops_at_the_first_that_rules_out() -> None:
    from yoso.data import DigitsDataModule
    from yoso.stats import wilson_interval

    torch.manual_seed(4)
    module = small_module(seed=4)
    dm = DigitsDataModule(batch_size=64, seed=4)
    evaluator = module.evaluator(dm, looks=[200, 60, 5000])  # sorted, the whole split last, beyond-split dropped
    assert evaluator.bounds == [60, 200, 360]
    g = module.genotype(module.space.sample(1, 2)[0])
    acc60, n60 = evaluator.race([g], np.array([2.0]))
    assert n60.tolist() == [60]
    high60 = wilson_interval(acc60[0], 60)[1]
    acc200, n200 = evaluator.race([g], np.array([high60 - 1e-9]))  # passes the first look
    high200 = wilson_interval(acc200[0], 200)[1]
    assert n200.tolist() == ([200] if high200 < high60 - 1e-9 else [360])
    assert evaluator.race([g], np.array([-np.inf]))[0][0] == module.accuracy([g])[0]
