"""The many-accelerator sweep (yoso.hw.sweep): the simulator's figures, as array operations over accelerators."""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations

import numpy as np
import pytest
from helpers import compose_config

from yoso.app.run import validate_config
from yoso.hw import Deploy, deployment_layers, evaluate, load_tech, simulate
from yoso.hw.dataflow import unrollings
from yoso.hw.simulator import _dims, _systolic, _systolic_many
from yoso.hw.sweep import AcceleratorSweep, pareto_candidates, pareto_mask
from yoso.hw.tech import MAPPING_OBJECTIVES
from yoso.space import Accelerator, known_genotype
from yoso.space.accelerator import TILING_LOOPS

LOOP_ORDERS = ["".join(p) for p in permutations(TILING_LOOPS)]


def _accelerators(count: int, seed: int) -> list[Accelerator]:
    """Accelerators of every kind the spaces hold: named dataflows, connectivities with and without a loop order."""
    rng = np.random.default_rng(seed)
    dataflows = ["WS", "OS", "RS", "IS", "NLR", "C-K", "CRS-K", "K-P", "PQ-K", "R-S"]
    out = []
    for _ in range(count):
        df = dataflows[rng.integers(len(dataflows))]
        order = None if rng.random() < 0.4 else LOOP_ORDERS[rng.integers(len(LOOP_ORDERS))]
        rows, cols = rng.choice([8, 12, 16]), rng.choice([8, 14, 24, 32])
        kb, rbuf = rng.choice([108, 256, 1024]), rng.choice([8, 12, 64, 512])  # tiny RFs limit the held words
        out.append(Accelerator(int(rows), int(cols), int(kb), int(rbuf), df, order, limits=None))
    return out


@pytest.mark.parametrize("objective", MAPPING_OBJECTIVES)
def test_sweep_gives_the_simulators_figures(objective: str) -> None:
    """Every accelerator of the sweep costs what evaluate() gives it, under each mapping objective, for a genotype
    and for a layer list; a second network reuses the shapes it shares."""
    tech = replace(load_tech(), mapping_objective=objective)
    accs = _accelerators(120, 0)
    sweep = AcceleratorSweep(accs, tech)
    for name in ("DARTS_V2", "ENAS"):
        g = known_genotype(name)
        energy, latency = sweep(g)
        reference = evaluate([(g, a) for a in accs], tech=tech)
        np.testing.assert_allclose(energy, reference[0], rtol=1e-12)
        np.testing.assert_allclose(latency, reference[1], rtol=1e-12)
    layers = deployment_layers(known_genotype("PNAS"), Deploy(cells=5))
    energy, latency = sweep(layers)
    for i in (0, 7, 42):
        result = simulate(layers, accs[i], tech)
        assert (energy[i], latency[i]) == pytest.approx((result.energy_mj, result.latency_ms), rel=1e-12)


def test_arrays_that_differ_in_their_register_file_alone_share_candidates_exactly() -> None:
    """The sweep generates an array's candidates once for its largest RF; a small RF keeps fewer held words of a
    forwarded stream (m <= words - 2), which changes the choice and the energy here."""
    g = known_genotype("DARTS_V2")
    tech = load_tech()
    for df in ("WS", "OS", "IS", "C-K", "CRS-K", "RS"):
        accs = [Accelerator(8, 8, 256, rbuf, df, limits=None) for rbuf in (4, 6, 8, 12, 64, 1024)]
        energy, latency = AcceleratorSweep(accs, tech)(g)
        for i, acc in enumerate(accs):
            result = simulate(g, acc, tech)
            assert (energy[i], latency[i]) == pytest.approx((result.energy_mj, result.latency_ms), rel=1e-12)
        assert len(set(np.round(energy, 6))) == len(accs)


def test_sweep_on_a_board_gives_the_simulators_figures() -> None:
    """On an FPGA board's technology (on-chip costs zero, so many candidates tie) the figures still agree."""
    setup = validate_config(compose_config("search", ["target=zcu102", "cost_model=simulator"])).hw
    assert setup is not None
    accs = setup.space.accelerators.all()[::7]
    g = known_genotype("DARTS_V2")
    energy, latency = AcceleratorSweep(accs, setup.tech, setup.deploy)(g)
    reference = evaluate([(g, a) for a in accs], tech=setup.tech, deploy=setup.deploy)
    np.testing.assert_allclose(energy, reference[0], rtol=1e-12)
    np.testing.assert_allclose(latency, reference[1], rtol=1e-12)


def test_pareto_candidates_keep_exactly_the_undominated() -> None:
    """Against brute force on random candidates with many ties: kept = matched or beaten by no other (one of each
    set of equal ones)."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        a, b, t = (rng.integers(0, 5, n).astype(float) for _ in range(3))
        kept = pareto_candidates(a, b, t)
        x = np.stack([a, b, t], 1)
        le = (x[None] <= x[:, None]).all(-1)
        lt = (x[None] < x[:, None]).any(-1)
        undominated = ~(le & lt).any(1)
        distinct = {tuple(r) for r in x[undominated]}
        assert len(kept) == len(distinct) and {tuple(r) for r in x[kept]} == distinct


def test_pareto_mask_keeps_exactly_the_undominated_of_each_segment() -> None:
    """The segmented version the sweep runs over all its arrays at once: per segment, as brute force."""
    rng = np.random.default_rng(2)
    for _ in range(20):
        n = int(rng.integers(1, 200))
        seg = rng.integers(0, 7, n) * 3
        a, b, t = (rng.integers(0, 6, n).astype(float) for _ in range(3))
        kept = pareto_mask(seg, a, b, t)
        for s in np.unique(seg):
            mine = np.flatnonzero(seg == s)
            expected = pareto_candidates(a[mine], b[mine], t[mine])
            x = np.stack([a[mine], b[mine], t[mine]], 1)
            le = (x[None] <= x[:, None]).all(-1)
            lt = (x[None] < x[:, None]).any(-1)
            distinct = {tuple(r) for r in x[~(le & lt).any(1)]}
            assert {tuple(r) for r in x[kept[mine]]} == distinct and kept[mine].sum() == len(distinct)
            assert np.array_equal(np.flatnonzero(kept[mine]), expected)


def test_systolic_many_gives_each_arrays_candidates() -> None:
    """The sweep costs every systolic and adder-tree array of a layer in one pass: each array's candidates are the
    same bits, in the same order, as costing it alone."""
    rng = np.random.default_rng(3)
    layers = deployment_layers(known_genotype("DARTS_V2"), Deploy(cells=5))
    dataflows = ["WS", "IS", "NLR", "OS", "C-K", "K-P", "PQ-K", "R-S", "S-C"]
    for layer in layers[::9]:
        d = _dims(layer.shape())
        units, rows, cols, rf = [], [], [], []
        for _ in range(12):
            order = None if rng.random() < 0.3 else LOOP_ORDERS[rng.integers(len(LOOP_ORDERS))]
            us = [u for u in unrollings(dataflows[rng.integers(len(dataflows))], order) if u.array != "pixels2d"]
            units.append(us[rng.integers(len(us))])
            rows.append(int(rng.choice([4, 8, 12, 16])))
            cols.append(int(rng.choice([3, 8, 14, 32])))
            rf.append(int(rng.choice([1, 3, 4, 16, 512])))
        counts, cycles, params, owner = _systolic_many(d, units, np.array(rows), np.array(cols), np.array(rf))
        for k, u in enumerate(units):
            c, t, p = _systolic(d, u, rows[k], cols[k], rf[k])
            mine = owner == k
            assert np.array_equal(counts[mine], c) and np.array_equal(cycles[mine], t)
            assert all(np.array_equal(params[name][mine], p[name]) for name in p)


def test_sweep_refuses_no_accelerators() -> None:
    with pytest.raises(ValueError, match="no accelerators"):
        AcceleratorSweep([])
