"""Simulator properties: energy accounting, monotonicity in PEs and buffer size, dataflow behaviour, batch API."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from yoso.config import ConfigError
from yoso.hw import Deploy, Layer, UnitCosts, deployment_layers, evaluate, load_tech, simulate, simulate_layer
from yoso.hw.layers import op_layers
from yoso.hw.simulator import _layer_cost, _mapping_figures
from yoso.hw.tech import MAPPING_OBJECTIVES, Tech
from yoso.space import Accelerator, known_genotype
from yoso.space.ops import YOSO_OPS

PE_ARRAYS = [(8, 8), (8, 16), (12, 14), (14, 16), (16, 16), (16, 20), (16, 24), (16, 32)]
DATAFLOWS = ("WS", "OS", "RS", "IS", "NLR")
#: Connectivity points of NAAS's space (with and without a loop order), checked for the same properties.
CONNECTIVITY = (("C-K", None), ("K-C", "KCP"), ("P-Q", "CKP"), ("R-P", "PKC"), ("PQ-K", "KPC"))


@pytest.fixture(scope="module")
def shapes() -> list[Layer]:
    """Every distinct layer shape of DARTS_V2 and of YOSO's ops at the three stage widths, both strides."""
    out = {l.shape() for l in deployment_layers(known_genotype("DARTS_V2"))}
    for op, stride, (c, h) in itertools.product(YOSO_OPS, (1, 2), ((36, 32), (72, 16), (144, 8))):
        out |= {l.shape() for l in op_layers(op, c, h, h, stride)}
    return sorted(out, key=repr)


@pytest.mark.parametrize(("dataflow", "order"), [(df, None) for df in DATAFLOWS] + list(CONNECTIVITY))
def test_breakdown_sums_to_total(dataflow: str, order: str | None) -> None:
    res = simulate(known_genotype("DARTS_V2"), Accelerator(16, 32, 512, 512, dataflow, order))
    assert set(res.breakdown) == {"mac", "rf", "noc", "glb", "dram", "static"}
    assert math.isclose(sum(res.breakdown.values()), res.energy_mj, rel_tol=1e-12)
    assert math.isclose(sum(r.energy_total_pj for r in res.layers) * 1e-9, res.energy_mj, rel_tol=1e-9)
    assert res.macs == sum(l.macs for l in deployment_layers(known_genotype("DARTS_V2")))
    assert 0 < res.utilisation <= 1 and res.latency_ms > 0
    for r in res.layers:  # per level: energy in MAC units = accesses x unit cost
        costs = load_tech().costs(res.accelerator)
        for level in ("mac", "rf", "noc", "glb", "dram"):
            assert math.isclose(r.energy_units[level], r.accesses[level] * getattr(costs, level), rel_tol=1e-12)


@pytest.mark.parametrize(("dataflow", "order"), [(df, None) for df in DATAFLOWS] + list(CONNECTIVITY))
def test_more_pes_never_raise_latency(shapes: list[Layer], dataflow: str, order: str | None) -> None:
    """Under the latency objective a layer is never slower on more PEs (a sub-array can always be used)."""
    tech = replace(load_tech(), mapping_objective="latency")
    for rbuf in (64, 512):
        cycles = {
            pe: [simulate_layer(l, Accelerator(*pe, 256, rbuf, dataflow, order), tech).cycles for l in shapes]
            for pe in PE_ARRAYS
        }
        for small, big in itertools.product(PE_ARRAYS, PE_ARRAYS):
            if big[0] >= small[0] and big[1] >= small[1]:
                assert all(b <= s for b, s in zip(cycles[big], cycles[small])), (dataflow, small, big)
        assert sum(cycles[(16, 32)]) < sum(cycles[(8, 8)])


@pytest.mark.parametrize("board", [False, True], ids=["asic", "board"])
@pytest.mark.parametrize("objective", MAPPING_OBJECTIVES)
def test_no_chosen_mapping_is_dominated(shapes: list[Layer], objective: str, board: bool) -> None:
    """hw.mapping_objective: the chosen mapping of a layer minimises the objective over every candidate of the same
    layer and accelerator, and no candidate has both less energy and fewer cycles (property over layers, dataflows,
    connectivities with and without a loop order, arrays and buffers; on the ASIC and on a board's technology, whose
    only energy is DRAM traffic, so a layer kept on chip costs none)."""
    tech = replace(load_tech(), mapping_objective=objective)
    if board:
        tech = replace(tech, unit_costs=UnitCosts(0, 0, 0, 0, 1), leak_uw_per_sram_kb=0.0, leak_uw_per_pe=0.0)
    rng = np.random.default_rng(0)
    designs = [(df, None) for df in DATAFLOWS] + list(CONNECTIVITY) + [("CRS-K", None), ("K-P", None)]
    for df, order in designs:
        for shape in shapes:
            pe, kb, rbuf = PE_ARRAYS[rng.integers(len(PE_ARRAYS))], rng.choice([108, 256, 1024]), rng.choice([64, 512])
            acc = Accelerator(*pe, int(kb), int(rbuf), df, order)
            f = _mapping_figures(shape, acc, tech)
            i = _layer_cost(shape, acc, tech).choice
            energy, cycles = f.energy_pj, f.latency
            dominated = (energy <= energy[i]) & (cycles <= cycles[i]) & ((energy < energy[i]) | (cycles < cycles[i]))
            assert not dominated.any(), (objective, df, order, shape)
            score = {"energy": energy, "latency": cycles, "edp": energy * cycles}[objective]
            assert score[i] == score.min()


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_larger_gbuf_never_raises_dram_accesses(shapes: list[Layer], dataflow: str) -> None:
    sizes = (108, 128, 196, 256, 512, 1024)
    dram = np.array(
        [[simulate_layer(l, Accelerator(16, 16, kb, 256, dataflow)).accesses["dram"] for l in shapes] for kb in sizes]
    )
    assert np.all(np.diff(dram, axis=0) <= 0)
    assert dram[-1].sum() < dram[0].sum()
    weights = np.array([l.params - (l.K if l.kind == "fc" else 0) for l in shapes])
    assert np.all(dram[-1] >= weights)  # every weight comes from DRAM at least once


def test_no_knob_is_free() -> None:
    """Bigger buffers and arrays raise per-access and static energy; the energy-best design is not the biggest."""
    tech = load_tech()
    small, big_gbuf, big_rf, big_pe = (
        Accelerator(8, 8, 108, 64, "RS"),
        Accelerator(8, 8, 1024, 64, "RS"),
        Accelerator(8, 8, 108, 1024, "RS"),
        Accelerator(16, 32, 108, 64, "RS"),
    )
    assert tech.costs(big_gbuf).glb > tech.costs(small).glb
    assert tech.costs(big_rf).rf > tech.costs(small).rf
    assert tech.costs(big_pe).noc > tech.costs(small).noc
    for acc in (big_gbuf, big_rf, big_pe):
        assert tech.static_power_mw(acc) > tech.static_power_mw(small)
    g = known_genotype("DARTS_V2")
    e_small, e_big = simulate(g, Accelerator(8, 8, 512, 64, "RS")), simulate(g, Accelerator(16, 32, 1024, 1024, "RS"))
    assert e_small.energy_mj < e_big.energy_mj and e_small.latency_ms > e_big.latency_ms


def test_nlr_has_no_rf_accesses(shapes: list[Layer]) -> None:
    for l in shapes:
        r = simulate_layer(l, Accelerator(16, 16, 256, 512, "NLR"))
        assert r.accesses["rf"] == 0.0 and r.energy_pj["rf"] == 0.0
        if l.kind != "add":  # every MAC fetches its weight from the GLB: no local reuse
            assert r.accesses["glb"] >= l.macs * l.has_weights
    conv = Layer("conv", 64, 64, 16, 16, 3, 3, 1, 1)
    per_mac = {
        df: simulate_layer(conv, Accelerator(16, 16, 256, 512, df)).accesses["rf"] / conv.macs for df in DATAFLOWS
    }
    assert per_mac["NLR"] == min(per_mac.values()) == 0.0 and per_mac["RS"] > per_mac["WS"] > 0


@pytest.mark.parametrize("dataflow", ["WS", "OS"])
@pytest.mark.parametrize("pe", [(8, 8), (16, 32)])
def test_depthwise_maps_badly_on_ws_os(dataflow: str, pe: tuple[int, int]) -> None:
    for c, h, k in ((36, 32, 3), (144, 8, 5)):
        dense = Layer("conv", c, c, h, h, k, k, 1, k // 2)
        dw = Layer("dwconv", c, c, h, h, k, k, 1, k // 2, groups=c)
        acc = Accelerator(*pe, 256, 256, dataflow)
        assert simulate_layer(dw, acc).utilisation < simulate_layer(dense, acc).utilisation
    # row stationary maps depthwise convs well (PE sets replicated over channels)
    dw = Layer("dwconv", 36, 36, 32, 32, 3, 3, 1, 1, groups=36)
    rs = simulate_layer(dw, Accelerator(*pe, 256, 256, "RS")).utilisation
    assert rs > simulate_layer(dw, Accelerator(*pe, 256, 256, dataflow)).utilisation


def test_small_maps_underuse_big_os_array() -> None:
    dw = lambda h: Layer("dwconv", 144, 144, h, h, 3, 3, 1, 1, groups=144)  # noqa: E731
    acc = Accelerator(16, 32, 256, 256, "OS")
    assert simulate_layer(dw(8), acc).utilisation < simulate_layer(dw(32), acc).utilisation


def test_custom_unit_costs_and_units() -> None:
    layer = Layer("conv", 96, 256, 31, 31, 5, 5, 1, 2, N=16)  # AlexNet conv2-like, batch 16
    acc = Accelerator(16, 16, 128, 512, "RS")
    costs = UnitCosts(mac=1, rf=1, noc=2, glb=6, dram=200)
    r = simulate_layer(layer, acc, costs=costs)
    assert r.accesses["mac"] == layer.macs == r.energy_units["mac"]
    assert r.energy_units["dram"] == 200 * r.accesses["dram"]
    assert r.energy_pj["rf"] == pytest.approx(r.energy_units["rf"] * load_tech().mac_pj)
    assert r.cycles >= r.compute_cycles >= layer.macs / acc.num_pes
    assert {"e", "p", "q"} <= set(r.mapping)


def _finite_positive(space, n: int, seed: int) -> None:
    vectors = space.sample(n, rng=seed)
    energy, latency = evaluate(vectors, space=space)
    assert energy.shape == latency.shape == (n,)
    assert np.all(np.isfinite(energy)) and np.all(energy > 0)
    assert np.all(np.isfinite(latency)) and np.all(latency > 0)
    # same answers through the pair API
    pairs = space.decode_many(vectors[:20])
    e2, l2 = evaluate(pairs)
    np.testing.assert_allclose(e2, energy[:20]) and np.testing.assert_allclose(l2, latency[:20])


def test_batch_finite_positive(space) -> None:
    _finite_positive(space, 500, seed=1)


@pytest.mark.slow
def test_batch_finite_positive_10k(space) -> None:
    _finite_positive(space, 10_000, seed=2)


def test_batch_and_detailed_api_agree(space) -> None:
    """evaluate() and simulate() share one per-layer cost: the same energy and latency for every dataflow."""
    pairs = [(g, Accelerator(12, 14, 256, 128, df)) for df in DATAFLOWS for g in (known_genotype("PNAS"),)]
    pairs += space.decode_many(space.sample(4, rng=5))
    energy, latency = evaluate(pairs)
    for (g, acc), e, l in zip(pairs, energy, latency):
        res = simulate(g, acc)
        assert math.isclose(res.energy_mj, e, rel_tol=1e-12) and math.isclose(res.latency_ms, l, rel_tol=1e-12)


def test_batch_parallel_matches_serial(space) -> None:
    vectors = space.sample(60, rng=3)
    serial = evaluate(vectors, space=space)
    parallel = evaluate(vectors, space=space, n_jobs=2, chunk=20)
    np.testing.assert_allclose(serial, parallel)
    with pytest.raises(ValueError, match="space"):
        evaluate(vectors)


def test_known_genotypes_same_order_as_paper() -> None:
    """Table-2 sanity on the paper's own accelerators: within 10x of the paper's mJ and ms."""
    from yoso.app.table2 import PAPER_NAMES
    from yoso.reference import paper_results

    for row in paper_results()["table2"]:
        if row["model"] not in PAPER_NAMES:
            continue
        acc = Accelerator(*map(int, row["pe"].split("x")), row["gbuf_kb"], row["rbuf_b"], row["dataflow"])
        r = simulate(known_genotype(PAPER_NAMES[row["model"]]), acc)
        assert 0.1 < r.energy_mj / row["energy_mj"] < 10 and 0.1 < r.latency_ms / row["latency_ms"] < 10


def test_tech_validation(tmp_path) -> None:
    tech = load_tech()
    assert tech.word_bits == 16 and tech.unit_costs == UnitCosts(1, 1, 2, 6, 200)
    data = {f: getattr(tech, f) for f in tech.__dataclass_fields__ if f != "mapping_objective"}
    data["unit_costs"] = dict(mac=1, rf=1, noc=2, glb=6, dram=200)
    assert Tech.from_mapping(data) == tech
    with pytest.raises(ConfigError, match="tech.clock_mhz"):
        Tech.from_mapping({**data, "clock_mhz": -1})
    with pytest.raises(ConfigError, match="tech.unit_costs.dram"):
        Tech.from_mapping({**data, "unit_costs": {**data["unit_costs"], "dram": "a lot"}})
    with pytest.raises(ConfigError, match="tech.volts"):
        Tech.from_mapping({**data, "volts": 1.0})
    with pytest.raises(ConfigError, match="tech.mapping_objective"):  # the run's choice (hw.mapping_objective)
        Tech.from_mapping({**data, "mapping_objective": "edp"})
    with pytest.raises(ConfigError, match=r"hw.mapping_objective='speed'.*\['edp', 'energy', 'latency'\]"):
        replace(tech, mapping_objective="speed")
    with pytest.raises(ConfigError, match=r"hw.tech='no_such_tech'.*technologies \['eyeriss_65nm'\]"):
        load_tech("no_such_tech")
    with pytest.raises(ConfigError, match="deploy"):
        Deploy(cells=0)


def test_systolic_mapping_follows_scalesim() -> None:
    """The whole-array systolic mapping gives SCALE-Sim's cycles: folds x (fill + T) - 1 per group, fill 2 rows +
    cols - 2 when weights (WS) or inputs (IS) are preloaded, rows + cols - 2 for outputs held (OS)."""
    layer = Layer("conv", 32, 48, 16, 16, 3, 3, 1, 1)
    cases = {
        "WS": (32 * 9, 48, 256, 2 * 16 + 16 - 2),
        "OS": (256, 48, 32 * 9, 16 + 16 - 2),
        "IS": (32 * 9, 256, 48, 2 * 16 + 16 - 2),
    }
    for df, (sr, sc, t, fill) in cases.items():
        r = simulate_layer(layer, Accelerator(16, 16, 256, 256, df), mappings=("systolic",))
        folds = -(-sr // 16) * -(-sc // 16)
        assert r.compute_cycles == folds * (fill + t) - 1, df
        assert r.mapping["mapping"] == "systolic" and (r.mapping["sub_rows"], r.mapping["sub_cols"]) == (16, 16)
    # issue 20's example: 1x1 conv 16 -> 16 on a 32x32 map, 16x16 array, OS: 64 folds x (16 + 16 + 16 - 2) - 1
    conv1x1 = Layer("conv", 16, 16, 32, 32, 1, 1, 1, 0)
    assert simulate_layer(conv1x1, Accelerator(16, 16, 256, 512, "OS"), mappings=("systolic",)).compute_cycles == 2943
    dw = Layer("dwconv", 36, 36, 32, 32, 3, 3, 1, 1, groups=36)
    acc = Accelerator(16, 16, 256, 256, "OS")
    assert simulate_layer(dw, acc).mapping["mapping"] == "pixels2d"  # ShiDianNao mapping is faster for depthwise
    with pytest.raises(ValueError, match="mappings"):
        simulate_layer(dw, acc, mappings=("rowwise",))


def test_partial_fold_is_charged_at_its_array_width() -> None:
    """WS on 12x14: C*R*S = 27 rows of weights fold 3 times on 12 rows; every fold (the last one, 3 rows, too) is
    charged at the sub-array the mapper uses (9 rows, bypassing the rest), never at its filled width."""
    stem = Layer("conv", 3, 108, 32, 32, 3, 3, 1, 1)
    r = simulate_layer(stem, Accelerator(12, 14, 256, 512, "WS"))
    assert (r.mapping["sub_rows"], r.mapping["sub_cols"]) == (9, 14)  # 27 = 3 folds of 9; 108 = 8 folds of 14
    assert r.compute_cycles == 3 * 8 * (2 * 9 + 14 - 2 + 32 * 32) - 1
    full = simulate_layer(stem, Accelerator(12, 14, 256, 512, "WS"), mappings=("systolic",))
    assert full.compute_cycles == 3 * 8 * (2 * 12 + 14 - 2 + 32 * 32) - 1 > r.compute_cycles


def test_best_accelerator_depends_on_network(space) -> None:
    """The energy-best accelerator is not the same for every network (known genotypes and sampled cells)."""
    from helpers import compose_config

    from yoso.space import AcceleratorSpace

    accs = AcceleratorSpace.from_config(compose_config("search")["accelerator"]).all()
    networks = [known_genotype(n) for n in ("DARTS_V2", "AmoebaNet-A", "PNAS")]
    networks += [g for g, _ in space.decode_many(space.sample(6, rng=0))]
    best = set()
    for g in networks:
        energy, _ = evaluate([(g, a) for a in accs])
        best.add(accs[int(np.argmin(energy))])
    assert len(best) > 1


#: DARTS_V2 on 16x32 / 512 KB / 128 B per named dataflow: (energy mJ, latency ms), as issue 20 left them (RS and
#: NLR unchanged by it; WS and OS with SCALE-Sim's fold fill; IS new).
NAMED_POINTS = {
    "WS": (5.976106592581795, 6.642208),
    "OS": (5.606062677702821, 2.346108),  # the latency-first mapper (before hw.mapping_objective): 7.899 mJ, 1.869 ms
    "RS": (3.604941520000872, 1.05285),
    "IS": (5.6714229109226215, 8.820962),
    "NLR": (15.525969341216916, 5.97457),
}


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_named_dataflows_are_pinned(dataflow: str) -> None:
    res = simulate(known_genotype("DARTS_V2"), Accelerator(16, 32, 512, 128, dataflow))
    assert (res.energy_mj, res.latency_ms) == pytest.approx(NAMED_POINTS[dataflow], rel=1e-9)


def test_named_dataflows_are_points_of_the_description() -> None:
    """WS is the connectivity C*R*S rows x K columns holding weights (a loop order with P innermost), IS the same rows
    x output pixels holding inputs (K innermost): the same array mapping, cycles and array accesses."""
    from yoso.hw.dataflow import NAMED, unrollings

    assert [str(u) for u in NAMED["WS"]] == ["CRS-K/W"] and [str(u) for u in NAMED["IS"]] == ["CRS-PQ/I"]
    assert unrollings("C-K", "KCP")[0].stationary == "W" and unrollings("C-K", "KPC")[0].stationary == "O"
    assert unrollings("C-K", "PCK")[0].stationary == "I" and len(unrollings("C-K")) == 3
    layer = Layer("conv", 32, 48, 16, 16, 3, 3, 1, 1)
    for named, connectivity, order in (("WS", "CRS-K", "KCP"), ("IS", "CRS-PQ", "PCK"), ("OS", "PQ-K", "PKC")):
        a = simulate_layer(layer, Accelerator(16, 16, 256, 256, named), mappings=("systolic", "subarray"))
        b = simulate_layer(layer, Accelerator(16, 16, 256, 256, connectivity, order))
        assert a.compute_cycles == b.compute_cycles and a.mapping["unrolling"] == b.mapping["unrolling"]
        assert all(a.accesses[k] == b.accesses[k] for k in ("mac", "rf", "noc")), named


def test_loop_order_fixes_the_tiling_order() -> None:
    """A fixed loop order tiles the GLB in that order: DRAM traffic never below the best of all six orders."""
    from itertools import permutations

    layer = Layer("conv", 256, 384, 28, 28, 3, 3, 1, 1)
    free = simulate_layer(layer, Accelerator(16, 16, 108, 256, "C-K"), onchip_fmaps=False)
    fixed = {
        "".join(o): simulate_layer(layer, Accelerator(16, 16, 108, 256, "C-K", "".join(o)), onchip_fmaps=False)
        for o in permutations("KCP")
    }
    assert all(r.mapping["order"] == order for order, r in fixed.items())
    dram = {order: r.accesses["dram"] for order, r in fixed.items()}
    assert min(dram.values()) == free.accesses["dram"] < max(dram.values())


def test_bad_connectivity_and_loop_order() -> None:
    for value, match in (("K-Z", "dataflow='K-Z'"), ("K-K", "no dimension on both sides"), ("KC", "ROWS-COLS")):
        with pytest.raises(ConfigError, match=match):
            Accelerator(16, 16, 256, 256, value)
    with pytest.raises(ConfigError, match=r"loop_order='KCC': allowed a permutation of 'KCP'"):
        Accelerator(16, 16, 256, 256, "C-K", "KCC")
    assert Accelerator(16, 16, 256, 256, "kq-c").dataflow == "KQ-C"  # canonical: dimensions in KCPQRS order
    assert Accelerator(16, 16, 256, 256, "C-K", "pck").loop_order == "PCK"
