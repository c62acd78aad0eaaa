"""The hardware predictor: features, cached sample sets, the GP, save/load, comparison CLI and the cost model builder."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from helpers import compose_config, reference_of, space_of

from yoso import hw
from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.predictor import GPCostModel, SimulatorCostModel, cost
from yoso.predictor import dataset as ds
from yoso.predictor.cost import HwSetup
from yoso.predictor.features import FeatureEncoder
from yoso.predictor.hardware import PredictorMismatch
from yoso.predictor.settings import GPSettings, PredictorConfig
from yoso.space import AcceleratorSpace, JointSpace

SMALL_GP = GPSettings(subset=200, iterations=20)


@pytest.fixture(scope="module")
def small_sets(space, tmp_path_factory):
    """260 simulator samples (200 train / 60 test), cached in a temporary folder."""
    cache = tmp_path_factory.mktemp("cache")
    return ds.load_sample_set(space, 260, 1, reference_of(space), cache_dir=cache, progress=False).split(200)


def gp_model(space, deploy=None, tech=None) -> GPCostModel:
    """An untrained GP cost model of ``space`` (default deployment macro and technology unless given)."""
    setup = HwSetup(space, deploy or hw.Deploy(), tech or hw.load_tech(), PredictorConfig(gp=SMALL_GP))
    return GPCostModel(setup, progress=False)


@pytest.fixture(scope="module")
def predictor(space, small_sets):
    return gp_model(space).fit(small_sets[0])


# ----------------------------------------------------------------- features


def test_features_fixed_length_and_deterministic(space) -> None:
    x = space.sample(30, 3)
    a, b = FeatureEncoder(space), FeatureEncoder(space)
    fa = a(x)
    assert fa.shape == (30, len(a.spec)) and len(set(a.spec.names)) == len(a.spec)
    assert np.isfinite(fa).all()
    assert np.array_equal(fa, b(x)) and np.array_equal(fa, a(x))  # fresh encoder and warm cache agree
    assert np.array_equal(a(x[4]), fa[4:5])  # a single vector, same row
    onehot = fa[:, : int(space.vocab_sizes.sum())]
    assert np.array_equal(onehot.sum(1), np.full(30, len(space)))  # one hot per decision


def test_features_see_the_accelerator_and_the_network(space) -> None:
    enc = FeatureEncoder(space)
    x = space.sample(2, 4)
    y = x.copy()
    y[:, -1] = (y[:, -1] + 1) % space.vocab_sizes[-1]  # another dataflow
    f, g = enc(x), enc(y)
    names = enc.spec.names
    macs = names.index("log_macs")
    assert not np.array_equal(f, g) and np.array_equal(f[:, macs], g[:, macs])
    g0, _ = space.decode(x[0])
    total = sum(l.macs for l in hw.deployment_layers(g0))
    assert f[0, macs] == pytest.approx(np.log1p(total))


#: The features of ``space.sample(6, 20)`` (the default space, accelerator=paper) as the encoding of 6cf64b9 gave them,
#: per row their sum and their sum weighted by column number (1, 2, ...): the paper space's encoding must not
#: change with the accelerator spaces it learnt to encode (saved GPs stay valid).
PAPER_FEATURE_SUMS = [450.25830686, 485.92047173, 494.9270822, 520.71863165, 438.55563082, 457.72722874]
PAPER_FEATURE_WEIGHTED_SUMS = [
    107943.64805224,
    117539.71308415,
    119389.78042108,
    126875.1192607,
    104833.89829917,
    109243.92674557,
]


def test_paper_space_features_are_unchanged(space) -> None:
    enc = FeatureEncoder(space)
    f = enc(space.sample(6, 20))
    groups, flows = ("conv", "dwconv", "pool", "add", "all"), ("WS", "OS", "RS", "NLR")
    tail = [
        "log2_pe_rows",
        "log2_pe_cols",
        "log2_pes",
        "log2_gbuf_kb",
        "log2_rbuf_bytes",
        "log_spill_words",
        *(f"{df}*log_{g}_macs_per_pe" for df in flows for g in groups),
        *(f"{df}*log_spill_words" for df in flows),
    ]
    assert len(enc.spec) == 294 and enc.spec.names[-len(tail) :] == tuple(tail)
    np.testing.assert_allclose(f.sum(1), PAPER_FEATURE_SUMS, rtol=1e-10)
    np.testing.assert_allclose(f @ np.arange(1, f.shape[1] + 1), PAPER_FEATURE_WEIGHTED_SUMS, rtol=1e-10)


def test_naas_space_features_see_rows_cols_connectivity_and_loop_order() -> None:
    naas = space_of(compose_config("search", ["accelerator=naas"]))
    enc = FeatureEncoder(naas)
    x = naas.sample(20, 5)
    f = enc(x)
    acc_space = naas.accelerators
    choices = len(acc_space.options("connectivity")) + len(acc_space.options("loop_order"))
    assert f.shape == (20, len(enc.spec)) and len(set(enc.spec.names)) == len(enc.spec) and np.isfinite(f).all()
    assert sum("*" in name for name in enc.spec.names) == choices * 6  # five work groups and the spill per choice
    column = {name: i for i, name in enumerate(enc.spec.names)}
    work = [i for name, i in column.items() if name.endswith("*log_all_macs_per_pe")]
    for row, vector in zip(f, x):
        _, acc = naas.decode(vector)
        expected = np.log2([acc.pe_rows, acc.pe_cols, acc.num_pes, acc.gbuf_kb, acc.rbuf_bytes])
        sizes = ("log2_pe_rows", "log2_pe_cols", "log2_pes", "log2_gbuf_kb", "log2_rbuf_bytes")
        np.testing.assert_allclose(row[[column[k] for k in sizes]], expected)
        flow = row[column[f"{acc.dataflow}*log_all_macs_per_pe"]]
        order = row[column[f"loop_order={acc.loop_order}*log_all_macs_per_pe"]]
        assert flow == order > 0 and row[work].sum() == pytest.approx(2 * flow)  # zero under the other choices
    y = x.copy()
    y[:, -1] = (y[:, -1] + 1) % naas.vocab_sizes[-1]  # another loop order: only its one-hot and interactions move
    moved = np.flatnonzero((enc(y) != f).any(0))
    assert moved.size and all("loop_order" in enc.spec.names[i] for i in moved)


def test_naas_compute_cycles_and_array_words_by_hand() -> None:
    """log_compute_cycles: per layer and group, the folds of the unrolled extents over the array times the temporal
    steps plus rows + columns; log_array_words[O]: the MACs over the PEs an output word gathers (a fold's mean use of
    each axis whose dimensions it does not depend on). Written out per layer here; the cycles rank designs as the
    simulator's latency does."""
    naas = space_of(compose_config("search", ["accelerator=naas"]))
    x = naas.sample(24, 9)
    enc = FeatureEncoder(naas)
    f = enc(x)
    cycles, words = (f[:, enc.spec.names.index(name)] for name in ("log_compute_cycles", "log_array_words[O]"))
    connectivity = np.array(["-" in naas.decode(v)[1].dataflow for v in x])  # not a named point (RS, OS) of the list
    for vector, cycles_value, words_value in list(zip(x, cycles, words))[:3]:
        genotype, acc = naas.decode(vector)
        if "-" not in acc.dataflow:
            continue
        sides = acc.dataflow.split("-")
        total_cycles = total_words = 0.0
        for layer in hw.deployment_layers(genotype):
            g = layer.groups
            extent = {
                "K": layer.K // g,
                "C": layer.C // g,
                "P": layer.N * layer.out_h,
                "Q": layer.out_w,
                "R": layer.R,
                "S": layer.S,
            }
            spatial = [int(np.prod([extent[d] for d in side])) for side in sides]
            folds = [-(-e // size) for e, size in zip(spatial, (acc.pe_rows, acc.pe_cols))]
            macs = np.prod(list(extent.values()))
            total_cycles += g * folds[0] * folds[1] * (macs / (spatial[0] * spatial[1]) + acc.pe_rows + acc.pe_cols)
            served = np.prod([e / n if not set(side) & set("KPQ") else 1 for e, n, side in zip(spatial, folds, sides)])
            total_words += g * macs / served
        assert (cycles_value, words_value) == pytest.approx((np.log1p(total_cycles), np.log1p(total_words)))
    _, latency = hw.evaluate(x, space=naas)
    assert np.corrcoef(cycles[connectivity], np.log(latency[connectivity]))[0, 1] > 0.95


# ----------------------------------------------------------------- sample sets


def test_sample_set_cached_and_reused(space, tmp_path, monkeypatch) -> None:
    first = ds.load_sample_set(space, 12, 5, reference_of(space), cache_dir=tmp_path, progress=False)
    files = list((tmp_path / "samples").glob("*.npz"))
    assert len(files) == 1 and files[0].stem == first.key
    assert (first.energy_mj > 0).all() and (first.latency_ms > 0).all()
    e, l = hw.evaluate(first.vectors, space=space)
    assert np.allclose(first.energy_mj, e) and np.allclose(first.latency_ms, l)

    def no_simulator(*args, **kwargs):
        raise AssertionError("the cached sample set should have been reused")

    monkeypatch.setattr(cost, "evaluate", no_simulator)
    second = ds.load_sample_set(space, 12, 5, reference_of(space), cache_dir=tmp_path, progress=False)
    assert second.key == first.key and np.array_equal(second.vectors, first.vectors)
    assert np.array_equal(second.energy_mj, first.energy_mj)


def test_sample_set_key_changes_with_config(space) -> None:
    deploy, tech = hw.Deploy(), hw.load_tech()
    base = ds.sample_set_key(reference_of(space, deploy, tech), 12, 5)
    acc = space.accelerators
    other_space = JointSpace(
        space.cells, AcceleratorSpace(acc.fields, (acc.choices[0], acc.choices[1][:-1], *acc.choices[2:]))
    )
    changed = {
        "deploy": ds.sample_set_key(reference_of(space, dataclasses.replace(deploy, channels=16), tech), 12, 5),
        "tech": ds.sample_set_key(
            reference_of(space, deploy, dataclasses.replace(tech, mac_pj=tech.mac_pj * 2)), 12, 5
        ),
        "space": ds.sample_set_key(reference_of(other_space, deploy, tech), 12, 5),
        "n": ds.sample_set_key(reference_of(space, deploy, tech), 13, 5),
        "seed": ds.sample_set_key(reference_of(space, deploy, tech), 12, 6),
    }
    assert base not in changed.values() and len(set(changed.values())) == len(changed)


def test_changed_deploy_is_not_served_stale_labels(space, tmp_path) -> None:
    a = ds.load_sample_set(space, 6, 0, reference_of(space), cache_dir=tmp_path, progress=False)
    b = ds.load_sample_set(space, 6, 0, reference_of(space, hw.Deploy(channels=16)), cache_dir=tmp_path, progress=False)
    assert a.key != b.key and np.array_equal(a.vectors, b.vectors)
    assert (b.energy_mj < a.energy_mj).all()  # a narrower network costs less
    assert len(list((tmp_path / "samples").glob("*.npz"))) == 2


# ----------------------------------------------------------------- GP predictor


def test_gp_beats_the_mean_and_has_positive_std(predictor, small_sets) -> None:
    _, test = small_sets
    pred = predictor.predict(test.vectors, return_std=True)
    got = np.log(np.stack([pred.energy_mj, pred.latency_ms], 1))
    mse = ((got - test.targets) ** 2).mean(0)
    baseline = ((test.targets - small_sets[0].targets.mean(0)) ** 2).mean(0)
    assert (mse < 0.25 * baseline).all(), (mse, baseline)
    for std in (pred.energy_log_std, pred.latency_log_std):
        assert np.isfinite(std).all() and (std > 0).all()


def test_save_load_round_trip(predictor, small_sets, space, tmp_path) -> None:
    path = predictor.save(tmp_path / "gp.npz")
    loaded = gp_model(space).load(path)
    x = small_sets[1].vectors
    a, b = predictor.predict(x, return_std=True), loaded.predict(x, return_std=True)
    for field in ("energy_mj", "latency_ms", "energy_log_std", "latency_log_std"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert loaded.sample_key == predictor.sample_key == small_sets[0].key
    assert loaded.featurizer.spec == predictor.featurizer.spec


def test_load_for_another_config_names_the_difference(predictor, space, tmp_path) -> None:
    path = predictor.save(tmp_path / "gp.npz")
    with pytest.raises(PredictorMismatch, match=r"deploy\.channels: saved 36, now 16"):
        gp_model(space, deploy=hw.Deploy(channels=16)).load(path)
    tech = hw.load_tech()
    with pytest.raises(PredictorMismatch, match=r"tech\.clock_mhz"):
        gp_model(space, tech=dataclasses.replace(tech, clock_mhz=tech.clock_mhz + 1)).load(path)


def test_load_refuses_an_older_file_version(predictor, space, tmp_path) -> None:
    path = predictor.save(tmp_path / "gp.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    np.savez(path, meta=np.array(json.dumps({**meta, "version": 1})), **arrays)
    with pytest.raises(PredictorMismatch, match="file version 1.*retrain"):
        gp_model(space).load(path)


# ----------------------------------------------------------------- comparison CLI and wiring


def _tiny(tmp_path, cost_model: str = "gp") -> list[str]:
    return [
        f"cost_model={cost_model}",
        "hw.predictor.n_train=40",
        "hw.predictor.n_test=10",
        "hw.predictor.subset=40",
        "hw.predictor.iterations=3",
        f"hw.predictor.cache_dir={tmp_path}",
    ]


def test_compare_json_has_all_six_models(tmp_path, capsys) -> None:
    from yoso.app.compare import MODELS, main

    assert (
        main(["--n-train", "60", "--n-test", "20", "--json", "--out", str(tmp_path / "out"), *_tiny(tmp_path)[3:]]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert set(result["models"]) == set(MODELS) and len(MODELS) == 6
    for r in result["models"].values():
        for t in ("energy", "latency"):
            assert set(r[t]) == {"mse_log", "mape_pct", "spearman"} and r[t]["mse_log"] >= 0
    assert result["n_train"] == 60 and result["n_test"] == 20
    assert (tmp_path / "out" / "predictor_compare.png").stat().st_size > 0


def test_factory_simulator(tmp_path, space) -> None:
    evaluator = validate_config(compose_config("search", _tiny(tmp_path, "simulator"))).cost_model()
    assert isinstance(evaluator, SimulatorCostModel)
    x = space.sample(3, 0)
    e, l = evaluator(x)
    assert np.array_equal(e, hw.evaluate(x, space=space)[0]) and np.array_equal(l, hw.evaluate(x, space=space)[1])


def test_factory_gp_builds_once_then_reuses(tmp_path, space, monkeypatch) -> None:
    cfg = compose_config("search", _tiny(tmp_path))
    evaluator = validate_config(cfg).cost_model(progress=False)
    assert isinstance(evaluator, GPCostModel)
    x = space.sample(4, 9)
    e, l = evaluator(x)
    assert e.shape == l.shape == (4,) and (e > 0).all() and (l > 0).all()
    assert len(list((tmp_path / "predictors").glob("gp-*.npz"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached GP should have been reused")

    monkeypatch.setattr(GPCostModel, "fit", no_training)
    again = validate_config(cfg).cost_model(progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(again(x), (e, l)))


@pytest.mark.parametrize(
    "override, key",
    [
        ("hw.predictor.subset=1", "hw.predictor.subset"),
        ("hw.predictor.optimizer=sgd", "hw.predictor.optimizer"),
        ("hw.predictor.n_jobs=0", "hw.predictor.n_jobs"),
        ("hw.predictor.n_test=0", "hw.predictor.n_test"),
        ("+hw.predictor.subsets=10", "hw.predictor.subsets"),
    ],
)
def test_predictor_config_validated(override, key) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(compose_config("search", [override]))
    assert err.value.key == key
