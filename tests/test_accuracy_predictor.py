"""The stand-alone accuracy predictor (yoso.predictor.accuracy): dense features of a genotype, a GP on accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import compose_config, synthetic_table

from yoso.app.run import validate_config
from yoso.bench import TableRow, architecture_id
from yoso.bench.table import merge_rows, read_jsonl, row_record
from yoso.config import ConfigError
from yoso.predictor.accuracy import TOPOLOGY, AccuracyFeatures, AccuracyPredictor
from yoso.space.ops import OPS


def test_features_count_ops_and_scale_and_grow_with_the_network(space) -> None:
    genotypes = [g for g, _ in space.decode_many(space.sample(20, 0))]
    features = AccuracyFeatures(tuple(OPS))
    x = features(genotypes)
    assert x.shape == (20, len(features.names)) and np.isfinite(x).all()
    counts = x[:, : 2 * len(OPS)].reshape(20, 2, len(OPS)).sum(-1)
    assert (counts == [[len(g.edges("normal")), len(g.edges("reduce"))] for g in genotypes]).all()
    width, log_macs = x[:, features.names.index("width")], x[:, features.names.index("log_macs")]
    assert np.corrcoef(width, log_macs)[0, 1] > 0.5  # wider networks cost more multiply-accumulates


def test_topology_counts_each_cells_input_edges_and_output_nodes(space) -> None:
    """accuracy_model.topology: per cell, the edges reading c_{k-2} and c_{k-1} and the nodes concatenated."""
    genotypes = [g for g, _ in space.decode_many(space.sample(20, 2))]
    features = AccuracyFeatures(topology=True)
    x = features(genotypes)
    assert features.names[:6] == tuple(f"{c}.{n}" for c in ("normal", "reduce") for n in TOPOLOGY)
    for g, row in zip(genotypes, x):
        for c, cell in enumerate(("normal", "reduce")):
            from_input0, from_input1, concat = row[3 * c : 3 * c + 3]
            inputs = [node for _, node in g.edges(cell)]
            assert (from_input0, from_input1) == (inputs.count(0), inputs.count(1))
            assert concat == len(g.concat(cell)) and from_input0 + from_input1 >= 2  # node 2 reads only the inputs
    assert len({tuple(r[:6]) for r in x}) > 5  # it tells cells apart


def test_gp_learns_a_smooth_accuracy_and_gives_intervals(space) -> None:
    """On a synthetic accuracy of width and depth (noise 0.2 pp), held-out predictions are within a point and the
    predictive std is positive."""
    genotypes = [g for g, _ in space.decode_many(space.sample(60, 1))]
    rng = np.random.default_rng(0)
    truth = np.array([0.80 + 0.04 * g.width - 0.03 * g.depth for g in genotypes]) + rng.normal(0, 0.002, 60)
    predictor = AccuracyPredictor(AccuracyFeatures(tuple(OPS))).fit(genotypes[:45], truth[:45])
    mean, std = predictor.predict(genotypes[45:])
    assert np.mean(np.abs(mean - truth[45:])) < 0.01 and (std > 0).all()
    assert np.mean(np.abs(mean - truth[45:]) <= 1.96 * std) >= 0.6


def test_calibration_scales_the_predictive_std_by_the_training_sets_cross_validated_errors(space) -> None:
    """calibration_folds: the std is the GP's times one factor, fitted on the training set's cross-validated errors
    (an accuracy the features only partly explain: the factor widens the intervals to cover the held-out points)."""
    genotypes = [g for g, _ in space.decode_many(space.sample(80, 4))]
    rng = np.random.default_rng(1)
    hidden = np.array([g.edges("normal")[0][0] == "conv3x3" for g in genotypes], float)  # not among the inputs
    truth = np.array([0.80 + 0.04 * g.width for g in genotypes]) + 0.02 * hidden + rng.normal(0, 0.002, 80)
    features = AccuracyFeatures()
    raw = AccuracyPredictor(features, iterations=60).fit(genotypes[:60], truth[:60])
    calibrated = AccuracyPredictor(features, iterations=60, calibration_folds=5).fit(genotypes[:60], truth[:60])
    (m0, s0), (m1, s1) = raw.predict(genotypes[60:]), calibrated.predict(genotypes[60:])
    np.testing.assert_allclose(m1, m0)
    np.testing.assert_allclose(s1, s0 * calibrated.std_scale)
    assert 0.2 < calibrated.std_scale < 5.0
    assert np.mean(np.abs(m1 - truth[60:]) <= 1.96 * s1) >= 0.8


def test_accuracy_model_predictor_ranks_candidates_without_a_hypernet(tmp_path, space, smoke_table) -> None:
    """accuracy_model=predictor: the run's evaluator takes its accuracy from the table's GP, with no HyperNet."""
    from omegaconf import open_dict

    from yoso.app.pipeline import build_evaluator
    from yoso.predictor.accuracy import PredictedAccuracy

    table = smoke_table
    cfg = compose_config(
        "search",
        [
            "accuracy_model=predictor",
            f"accuracy_model.table={table}",
            "cost_model=simulator",
            f"paths.cache_dir={tmp_path}",
        ],
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    run = validate_config(cfg)
    assert isinstance(run.accuracy_model(), PredictedAccuracy) and "accuracy_model" in run.fingerprint
    evaluation = build_evaluator(run)(space.sample(5, 4))
    genotypes = [g for g, _ in space.decode_many(space.sample(5, 4))]
    expected = np.array([0.8 + 0.04 * g.width - 0.03 * g.depth for g in genotypes])
    assert np.abs(evaluation.accuracy - expected).max() < 0.01
    assert not (tmp_path / "hypernets").exists()  # no HyperNet trained or loaded
    hypernet_run = validate_config(compose_config("search", ["accuracy_model=hypernet"]))
    assert hypernet_run.accuracy_model() is None and "accuracy_model" not in hypernet_run.fingerprint


def test_accuracy_model_values_are_checked_at_start_up(tmp_path, smoke_table) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(
            compose_config(
                "search",
                ["accuracy_model=predictor", f"accuracy_model.table={smoke_table}", "accuracy_model.iterations=-1"],
            )
        )
    assert err.value.key == "accuracy_model.iterations"
    with pytest.raises(ConfigError, match="shipped table") as err:
        validate_config(compose_config("search", ["accuracy_model=table", "accuracy_model.table=nope"]))
    assert err.value.key == "accuracy_model.table"


def test_a_table_of_another_stand_alone_config_is_refused_and_auto_falls_back_to_the_hypernet(
    tmp_path, space, smoke_table, caplog
) -> None:
    """The shipped table holds the default search's stand-alone config, not the smoke one's: an explicit
    predictor or table refuses it at start-up (it would rank by another budget's accuracy); the default, auto, takes
    the HyperNet's accuracy and says why, and takes the predictor when the table matches."""
    from yoso.predictor.accuracy import PredictedAccuracy

    for name in ("predictor", "table"):
        with pytest.raises(ConfigError, match="stand-alone config") as err:
            validate_config(compose_config("search", [f"accuracy_model={name}"]))
        assert err.value.key == "accuracy_model.table" and err.value.value == "fashion_mnist_short"
    cfg = compose_config("search")
    assert cfg.accuracy_model.name == "auto"
    with caplog.at_level("INFO", logger="yoso.search"):
        run = validate_config(cfg)
    assert run.accuracy_model() is None and "accuracy_model" not in run.fingerprint
    assert "accuracy_model=auto" in caplog.text and run.standalone_key in caplog.text
    matched = validate_config(compose_config("search", [f"accuracy_model.table={smoke_table}"]))
    assert isinstance(matched.accuracy_model(), PredictedAccuracy)
    explicit = validate_config(
        compose_config("search", ["accuracy_model=predictor", f"accuracy_model.table={smoke_table}"])
    )
    assert matched.fingerprint["accuracy_model"] == explicit.fingerprint["accuracy_model"]  # auto resumes as predictor
    other = synthetic_table(tmp_path / "other.json.gz", space, "another-config")
    assert validate_config(compose_config("search", [f"accuracy_model.table={other}"])).accuracy_model() is None


@pytest.mark.slow
def test_search_with_the_accuracy_predictor_runs_end_to_end(tmp_path, smoke_table, shared_cache) -> None:
    """python search.py accuracy_model=predictor: the search ranks by predicted accuracy, the final step trains the
    top-N stand-alone, best.yaml is written."""
    from omegaconf import open_dict

    from yoso.app.pipeline import run_search

    table = smoke_table
    cfg = compose_config(
        "search", ["accuracy_model=predictor", f"accuracy_model.table={table}", f"paths.cache_dir={shared_cache}"]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    best = run_search(cfg)
    assert (tmp_path / "run" / "best.yaml").is_file() and np.isfinite(best["reward"])
    assert 0 <= best["accuracy"] <= 1  # stand-alone, from the final step
    assert best["predicted_accuracy_ci95_low"] <= best["predicted_accuracy"] <= best["predicted_accuracy_ci95_high"]
    assert (tmp_path / "run" / "accuracy_train.jsonl").read_text().count("\n") == 30  # the pinned training set
    kept = [line for path in (shared_cache / "accuracy").glob("*.jsonl") for line in read_jsonl(path)]
    assert any(line["genotype"] == best["genotype"] and line["index"] == -1 for line in kept)  # for later runs


def test_predictor_trains_on_the_runs_results_of_its_config_and_a_run_pins_its_training_set(tmp_path, space) -> None:
    """Results a run kept for the table's config (``<results>/<key>.jsonl``) join the table's architectures; those of
    another config do not; a pinned run directory keeps its training set when more results arrive."""
    from yoso.bench.table import append_jsonl
    from yoso.predictor.accuracy import PredictedAccuracy

    table = synthetic_table(tmp_path / "t.json.gz", space, "k", n=12)
    extra = [g for g, _ in space.decode_many(space.sample(3, 99))]
    for i, g in enumerate(extra):
        row = TableRow(architecture_id(g), -1, 0, 0.5, 0.5, 1000, 1000, 1.0)
        append_jsonl(tmp_path / "results" / "k.jsonl", row_record(g.to_dict(), row, "k" if i < 2 else "other"))
    model = PredictedAccuracy(space, str(table), results=str(tmp_path / "results"), iterations=20)
    model.pin(tmp_path / "run" / "accuracy_train.jsonl")
    assert len(model.training_table) == 14  # 12 of the table, 2 of the runs (the third is another config's)
    records = model.training_table.records()
    assert records[architecture_id(extra[0])].val_accuracy == 0.5 and list(records)[-1] == architecture_id(extra[1])
    more = [g for g, _ in space.decode_many(space.sample(2, 7))]
    for g in more:  # another run keeps results meanwhile
        row = TableRow(architecture_id(g), -1, 0, 0.6, 0.6, 1000, 1000, 1.0)
        append_jsonl(tmp_path / "results" / "k.jsonl", row_record(g.to_dict(), row, "k"))
    resumed = PredictedAccuracy(space, str(table), results=str(tmp_path / "results"), iterations=20)
    resumed.pin(tmp_path / "run" / "accuracy_train.jsonl")
    assert set(resumed.training_table.records()) == set(records)  # the pinned set, not the grown results
    fresh = PredictedAccuracy(space, str(table), results=str(tmp_path / "results"), iterations=20)
    assert len(fresh.training_table) == 16


def test_tabular_mode_looks_up_what_was_trained_and_predicts_the_rest(tmp_path, space) -> None:
    """accuracy_model=table: a tabulated architecture gets its measured accuracy (std from its Wilson interval), any
    other one the predictor's; the hits are counted."""
    from yoso.bench.table import load_table
    from yoso.predictor.accuracy import TabularAccuracy

    table_path = synthetic_table(tmp_path / "t.json.gz", space, "k", n=20)
    model = TabularAccuracy(space, str(table_path), iterations=20)
    table = load_table(str(table_path))
    tabulated = space.sample(20, 3)[:4]  # the table's draw (seed 3): its first four architectures
    vectors = np.concatenate([tabulated, space.sample(3, 50)])
    mean, std = model.predict(vectors)
    records = table.records()
    measured = [records[architecture_id(g)] for g, _ in space.decode_many(tabulated)]
    assert mean[:4] == pytest.approx([r.val_accuracy for r in measured])
    assert std[:4] == pytest.approx([(r.val_ci95[1] - r.val_ci95[0]) / 3.92 for r in measured])
    assert (model.looked_up, model.predicted) == (4, 3) and np.isfinite(mean[4:]).all() and (std[4:] > 0).all()


def test_long_table_ranks_by_the_long_budgets_accuracy_and_pins_both_tables(tmp_path, space) -> None:
    """accuracy_model.long_table: one GP on both budgets (the budget as an input) predicts the long budget, where
    depth pays off (synthetic: short 0.8 + 0.04 width - 0.03 depth, long = short + 0.06 depth), from many short
    records and a few long ones; a pinned run keeps both training sets."""
    from yoso.bench.table import load_table
    from yoso.predictor.accuracy import PredictedAccuracy, TwoBudgetPredictor

    short = synthetic_table(tmp_path / "short.json.gz", space, "short", n=40)
    genotypes = [g for g, _ in space.decode_many(space.sample(40, 3))][:16]  # the short table's first 16
    lines = [
        row_record(
            g.to_dict(),
            TableRow(architecture_id(g), i, 0, 0.8 + 0.04 * g.width + 0.03 * g.depth, 0.8, 1000, 1000, 1.0),
            "long",
        )
        for i, g in enumerate(genotypes)
    ]
    long = merge_rows("long", "long", {}, lines).write(tmp_path / "long.json.gz")
    model = PredictedAccuracy(space, str(short), long_table=str(long), iterations=60, calibration_folds=4)
    model.pin(tmp_path / "run" / "accuracy_train.jsonl")
    vectors = space.sample(12, 77)
    mean, std = model.predict(vectors)
    truth = np.array([0.8 + 0.04 * g.width + 0.03 * g.depth for g in model.genotypes(vectors)])
    short_truth = truth - 0.06 * np.array([g.depth for g in model.genotypes(vectors)])
    assert isinstance(model.predictor, TwoBudgetPredictor) and (std > 0).all()
    assert np.abs(mean - truth).mean() < 0.01 < np.abs(mean - short_truth).mean()
    pinned = list(read_jsonl(tmp_path / "run" / "accuracy_train.jsonl"))
    assert sorted({line["key"] for line in pinned}) == ["long", "short"] and len(pinned) == 56
    resumed = PredictedAccuracy(space, str(short), long_table=str(long), iterations=60, calibration_folds=4)
    resumed.pin(tmp_path / "run" / "accuracy_train.jsonl")
    assert [len(t) for t in resumed.training_tables] == [40, 16] and load_table(str(long)).key == "long"
    with pytest.raises(ConfigError) as err:
        from yoso.predictor.accuracy import TabularAccuracy

        TabularAccuracy(space, str(short), long_table=str(long))
    assert err.value.key == "accuracy_model.long_table"
