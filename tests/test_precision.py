"""Precision as a searched decision (space=yoso_elastic_precision): the decisions, their start-up checks, the
quantised networks, and the cost model's monotonicity in bits on the ASIC and the boards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import STRATEGIES, compose_config, make_loop, plain, read_rows, space_of
from omegaconf import open_dict

from yoso.app.run import validate_config
from yoso.config import ConfigError, build
from yoso.hw import simulator as sim
from yoso.hw.layers import Deploy, deployment_layers
from yoso.hw.sweep import AcceleratorSweep
from yoso.hw.tech import at_bits, load_tech
from yoso.space.genotype import NUM_STAGES, Genotype, GenotypeError

PRECISION = "space=yoso_elastic_precision"
#: The default bit-widths of a precision space, narrowest first.
BITS = (4, 6, 8, 16)


@pytest.fixture(scope="module")
def precision_space():
    return space_of(compose_config("search", [PRECISION]))


def _at(genotype: Genotype, stages: tuple[int, ...]) -> Genotype:
    return replace(genotype, precision=(genotype.precision[0], *stages))


# ----------------------------------------------------------------- decisions


def test_precision_space_adds_one_decision_per_stage_and_round_trips(precision_space) -> None:
    names = precision_space.names
    at = names.index("net.bits0")
    assert names[at : at + NUM_STAGES] == ("net.bits0", "net.bits1", "net.bits2")
    assert names[at - 2 : at] == ("net.width", "net.depth") and at + NUM_STAGES == precision_space.num_dnn_decisions
    assert all(precision_space.decisions[at + s].choices == BITS for s in range(NUM_STAGES))
    vectors = precision_space.sample(50, 0)
    seen = set()
    for v in vectors:
        genotype, accelerator = precision_space.decode(v)
        assert genotype.precision[0] == 8 and genotype.precision[1:] == tuple(BITS[i] for i in v[at : at + NUM_STAGES])
        np.testing.assert_array_equal(precision_space.encode(genotype, accelerator), v)
        assert Genotype.from_yaml(genotype.to_yaml()) == genotype
        seen.update(genotype.precision[1:])
    assert seen == set(BITS)
    np.testing.assert_array_equal(
        precision_space.widest_bits(vectors), [max(g.precision) for g, _ in precision_space.decode_many(vectors)]
    )


def test_a_genotype_outside_the_precision_list_is_refused(precision_space, space) -> None:
    genotype, accelerator = precision_space.decode(precision_space.sample(1, 1)[0])
    with pytest.raises(GenotypeError, match="precision"):
        replace(genotype, precision=(8, 3, 8, 8))
    with pytest.raises(ValueError, match="stages of"):
        precision_space.encode(_at(genotype, (2, 8, 8)), accelerator)
    with pytest.raises(ValueError, match="no precision decisions"):
        space.encode(genotype, accelerator)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("space.precisions=[0]", "space.precisions[0]"),
        ("space.precisions=[4,3]", "space.precisions[1]"),
        ("space.precisions=[]", "space.precisions"),
        ("space.first_last_bits=7", "space.first_last_bits"),
        ("strategy=differentiable", "space.precisions"),
    ],
)
def test_bad_precision_values_stop_at_start_up(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(compose_config("search", [PRECISION, override]))
    assert caught.value.key == key


def test_a_board_without_dsp_packing_for_a_listed_precision_stops_at_start_up() -> None:
    cfg = compose_config("search", [PRECISION, "target=zcu102"])
    validate_config(cfg)  # the board's table lists 4, 6, 8 and 16
    with open_dict(cfg):
        cfg.target.macs_per_dsp = {8: 2, 16: 1}
    with pytest.raises(ConfigError, match=r"lacks \[4, 6\]") as caught:
        validate_config(cfg)
    assert caught.value.key == "target.macs_per_dsp"


@pytest.mark.slow  # a subprocess (~10 s); the ConfigError itself is checked in-process above
def test_the_cli_exits_2_on_a_precision_of_3(tmp_path: Path) -> None:
    from helpers import run_entry

    result = run_entry("search.py", tmp_path, "experiment=smoke", PRECISION, "space.precisions=[3,8]")
    assert result.returncode == 2 and "space.precisions[0]" in result.stderr + result.stdout


# ----------------------------------------------------------------- cost model


def test_at_bits_counts_capacity_and_access_energy_in_bits() -> None:
    tech = load_tech()
    assert at_bits(tech, None) is tech and at_bits(tech, 16) is tech
    four, eight = at_bits(tech, 4), at_bits(tech, 8)
    share = tech.mac_multiplier_share
    assert eight.unit_costs.mac == pytest.approx(share / 4 + (1 - share) / 2)  # 0.27 of a 16-bit MAC
    assert four.unit_costs.glb == pytest.approx(tech.unit_costs.glb / 4)
    assert four.dram_words_per_cycle == pytest.approx(4 * tech.dram_words_per_cycle)
    acc = space_of(compose_config("search")).accelerators.all()[0]
    assert sim._acc_constants(acc, four)[3] == 4 * sim._acc_constants(acc, tech)[3]  # GLB values


@pytest.fixture(scope="module")
def networks(precision_space) -> list[tuple[Genotype, list]]:
    """Six sampled networks, each with 16 of the space's accelerators (enough for the sweep path)."""
    accs = precision_space.accelerators.all()
    rng = np.random.default_rng(0)
    pairs = precision_space.decode_many(precision_space.sample(6, 2))
    return [(g, [accs[i] for i in rng.choice(len(accs), 16, replace=False)]) for g, _ in pairs]


def _lower_one_stage() -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Pairs (wider, narrower) of stage bits that differ in one stage by one step of the list."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(6):
        wide = tuple(int(b) for b in rng.choice(BITS[1:], NUM_STAGES))
        stage = int(rng.integers(NUM_STAGES))
        narrow = list(wide)
        narrow[stage] = BITS[BITS.index(wide[stage]) - 1]
        out.append((wide, tuple(narrow)))
    return out + [((b,) * NUM_STAGES, (a,) * NUM_STAGES) for a, b in zip(BITS, BITS[1:])]


@pytest.mark.parametrize("objective", ["edp", "energy", "latency"])
def test_fewer_bits_never_cost_more_energy_on_the_asic(networks, objective: str) -> None:
    """Every mapping costs less energy and no more cycles at fewer bits, so the mapper's pick never costs more of
    what it minimises; energy also holds under the default EDP on these samples, while EDP may take a slower
    mapping at fewer bits where it saves more energy (docs/accelerator.md, Precision)."""
    tech = replace(load_tech(), mapping_objective=objective)
    for genotype, accs in networks:
        for wide, narrow in _lower_one_stage():
            figures = [sim.evaluate([(_at(genotype, bits), a) for a in accs], tech=tech) for bits in (wide, narrow)]
            (e_wide, l_wide), (e_narrow, l_narrow) = figures
            if objective != "latency":
                assert np.all(e_narrow < e_wide)
            if objective == "latency":
                assert np.all(l_narrow <= l_wide * (1 + 1e-12))


def test_fewer_bits_never_need_more_buffer_or_dram_traffic(networks) -> None:
    tech, deploy = load_tech(), Deploy()
    genotype, accs = networks[0]
    for wide, narrow in _lower_one_stage():
        need, traffic = [], []
        for bits in (wide, narrow):
            layers = deployment_layers(_at(genotype, bits), deploy)
            # bits a layer's weights and maps occupy on chip at once
            need.append([(l.params + l.N * l.C * l.H * l.W + l.N * l.K * l.out_h * l.out_w) * l.bits for l in layers])
            result = sim.simulate(_at(genotype, bits), accs[0], tech, deploy)
            traffic.append([r.accesses["dram"] * r.layer.bits for r in result.layers])
        assert np.all(np.array(need[1]) <= np.array(need[0]))
        assert np.all(np.array(traffic[1]) <= np.array(traffic[0]) * (1 + 1e-12))


def test_the_sweep_costs_mixed_precision_as_the_pair_by_pair_path(networks) -> None:
    genotype, accs = networks[1]
    g = _at(genotype, (4, 16, 6))
    energy, latency = AcceleratorSweep(accs)(g)
    pairs = sim._evaluate_pairs([(g, a) for a in accs], load_tech(), Deploy())
    np.testing.assert_allclose(energy, pairs[:, 0], rtol=1e-12)
    np.testing.assert_allclose(latency, pairs[:, 1], rtol=1e-12)


@pytest.mark.parametrize("board_name", ["zcu102", "ultra96", "zc706"])
def test_fewer_bits_never_lower_fps_or_use_more_of_a_board(board_name: str, precision_space) -> None:
    cfg = compose_config("search", [PRECISION, f"target={board_name}"])
    board = build(plain(cfg.target), "target")
    space = space_of(cfg)
    tech = board.tech(load_tech())
    accs = space.accelerators.all()[:: max(1, len(space.accelerators.all()) // 24)]
    genotype = space.decode(space.sample(1, 4)[0])[0]
    before = None
    for bits in reversed(BITS):  # 16 bits first, then narrower
        g = _at(genotype, (bits,) * NUM_STAGES)
        dram, latency = sim.evaluate([(g, a) for a in accs], tech=tech)
        energy, on_board = board.cost(accs, dram, latency, g.widest_bits)
        usage = board.usage(accs, g.widest_bits).counts
        fps = np.where(np.isfinite(on_board), 1000.0 / on_board, 0.0)
        if before is not None:
            assert np.all(usage <= before[0]) and np.all(fps >= before[1] * (1 - 1e-12))
            assert np.all(energy <= before[2] * (1 + 1e-12))
        before = (usage, fps, energy)


# ----------------------------------------------------------------- quantised networks


def test_fake_quantise_rounds_to_the_levels_of_its_bits_with_a_straight_through_gradient() -> None:
    from yoso.nn.quant import fake_quantise

    x = torch.randn(4096, requires_grad=True)
    for bits in (2, 4, 8):
        y = fake_quantise(x, bits)
        assert len(torch.unique(y.detach())) <= 2**bits - 1  # symmetric signed levels
        assert len(torch.unique(fake_quantise(x.detach().relu(), bits))) <= 2**bits  # unsigned after a ReLU
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.equal(grad, torch.ones_like(x))
    assert fake_quantise(x, None) is x


def test_a_quantised_hypernet_runs_each_sampled_precision_and_its_child_matches(precision_space) -> None:
    from yoso.nn.hypernet import HyperNet

    torch.manual_seed(0)
    s = precision_space
    net = HyperNet(s.cells, (1, 14, 14), 10, 4, scale=s.scale, precision=s.precision)
    x = torch.randn(4, 1, 14, 14)
    genotype = s.decode(s.sample(1, 5)[0])[0]
    outputs = {bits: net(x, _at(genotype, (bits,) * NUM_STAGES)) for bits in BITS}
    float_out = net(x, replace(genotype, precision=()))
    gaps = [float((outputs[b] - float_out).detach().abs().max()) for b in BITS]
    assert gaps[0] > gaps[-1]  # 4-bit moves the logits more than 16-bit
    net.eval()
    child = net.child(genotype).eval()
    assert child.precision is not None
    torch.testing.assert_close(child(x), net(x, genotype))


def test_the_sandwich_trains_the_widest_and_narrowest_precision() -> None:
    from yoso.nn.modules import SupernetModule

    cfg = compose_config("search", [PRECISION, "model.sandwich=true"])
    module = SupernetModule.from_groups(
        plain(cfg.model), plain(cfg.space), plain(cfg.accelerator), plain(cfg.data), seed=0
    )
    largest, smallest, sampled = module.training_paths(0)
    assert largest.precision == (8, 16, 16, 16) and smallest.precision == (8, 4, 4, 4)
    assert sampled.quantised


# ----------------------------------------------------------------- strategies and the pipeline


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_sampling_strategy_searches_the_precision_space(strategy: str, precision_space, tmp_path: Path) -> None:
    make_loop(strategy, precision_space, tmp_path, 6).run()
    rows = read_rows(tmp_path / "history.csv")
    assert len(rows) >= 6
    for row in rows:
        assert len(yaml.safe_load(row["genotype"])["precision"]) == 1 + NUM_STAGES
        assert all(row[f"net.bits{s}"] in {str(i) for i in range(len(BITS))} for s in range(NUM_STAGES))


def test_bits_are_gp_features(precision_space) -> None:
    from yoso.predictor.features import FeatureEncoder

    encoder = FeatureEncoder(precision_space)
    vectors = precision_space.sample(2, 0)
    at = precision_space.names.index("net.bits0")
    vectors[1] = vectors[0]
    vectors[1, at] = (vectors[0, at] + 1) % len(BITS)
    features = encoder(vectors)
    assert not np.allclose(features[0], features[1])


@pytest.mark.slow  # 35-77 s each under load; the loop test above runs every strategy in the precision space in-process
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_smoke_search_in_the_precision_space(strategy: str, tmp_path: Path, shared_cache: Path) -> None:
    from yoso.app.pipeline import run_search

    cfg = compose_config("search", [PRECISION, f"strategy={strategy}", f"paths.cache_dir={shared_cache}"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    best = run_search(cfg)
    saved = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert saved["genotype"] == best["genotype"]
    genotype = Genotype.from_dict(saved["genotype"])
    assert genotype.precision[0] == 8 and set(genotype.precision[1:]) <= set(BITS)
    rows = read_rows(tmp_path / "history.csv")
    assert all("precision" in yaml.safe_load(r["genotype"]) for r in rows)


def test_auto_finds_the_shipped_table_of_the_runs_config() -> None:
    from yoso.app.run import _shipped_table_of
    from yoso.bench import load_table

    assert _shipped_table_of(load_table("fashion_mnist_short").key) == "fashion_mnist_short"
    assert _shipped_table_of("no-such-config") is None


def test_the_accuracy_predictor_sees_each_stages_quantisation_step(precision_space) -> None:
    from yoso.predictor.accuracy import AccuracyFeatures

    genotype = precision_space.decode(precision_space.sample(1, 6)[0])[0]
    features = AccuracyFeatures(topology=True, precision=True)
    rows = features([_at(genotype, (4, 8, 16)), replace(genotype, precision=())])
    steps = [features.names.index(f"stage{s}.step") for s in range(NUM_STAGES)]
    np.testing.assert_allclose(rows[0, steps], [2.0**-4, 2.0**-8, 2.0**-16])
    np.testing.assert_array_equal(rows[1, steps], 0.0)
    assert AccuracyFeatures(topology=True).names == features.names[:-NUM_STAGES]


def test_a_precision_predictor_also_learns_from_the_unquantised_table(
    precision_space, smoke_table: Path, tmp_path: Path
) -> None:
    from helpers import synthetic_table

    run = validate_config(compose_config("search", [PRECISION]))
    assert run.unquantised_key == validate_config(compose_config("search")).standalone_key
    table = synthetic_table(tmp_path / "precision.json.gz", precision_space, run.standalone_key, n=12)
    chosen = ["accuracy_model=predictor", f"accuracy_model.table={table}", "accuracy_model.iterations=5"]
    run = validate_config(
        compose_config("search", [PRECISION, *chosen, f"accuracy_model.unquantised_table={smoke_table}"])
    )
    model = run.accuracy_model()
    assert model.unquantised_table == str(smoke_table)
    precision_rows, unquantised_rows = (len(t) for t in model.training_tables)
    assert precision_rows == 12 and unquantised_rows >= 30  # and any smoke results other tests kept
    assert np.all(np.isfinite(model(precision_space.sample(4, 0))))
    with pytest.raises(ConfigError) as caught:  # a table of another config (the precision space's own)
        validate_config(compose_config("search", [PRECISION, *chosen, f"accuracy_model.unquantised_table={table}"]))
    assert caught.value.key == "accuracy_model.unquantised_table"
