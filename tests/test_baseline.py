"""The two-stage baseline (yoso.app.two_stage, two_stage.py) and the comparison report (yoso.app.report)."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import ROOT, compose_config

from yoso.app.report import (
    compare,
    format_range,
    load_design,
    load_two_stage,
    main,
    matched_mask,
    paper_rows,
    ratio_range,
    reduction_ratios,
)
from yoso.app.run import validate_config
from yoso.app.table2 import enumerate_costs
from yoso.app.two_stage import (
    CSV_COLUMNS,
    INTERVAL_COLUMNS,
    best_indices,
    cached_accuracy,
    check_models,
    network_rows,
    two_stage,
    two_stage_markdown,
    write_outputs,
)
from yoso.config import ConfigError
from yoso.hw.layers import Deploy
from yoso.hw.simulator import evaluate
from yoso.hw.tech import load_tech
from yoso.predictor.cost import HwSetup, SimulatorCostModel
from yoso.predictor.settings import PredictorConfig
from yoso.search.reward import Reward
from yoso.space.accelerator import AcceleratorSpace
from yoso.space.known import KNOWN_GENOTYPES

BALANCED = Reward(0.5, -0.4, 0.5, -0.4)


@pytest.fixture(scope="module")
def small_space():
    """2 PE arrays x 2 global buffers x 1 register file x 2 dataflows = 8 accelerators, a small deploy net."""
    space = AcceleratorSpace.from_config(
        {"pe_arrays": ["8x8", "16x32"], "gbuf_kb": [108, 512], "rbuf_bytes": [64], "dataflows": ["WS", "RS"]}
    )
    return space.all(), Deploy(channels=8, cells=5), load_tech("eyeriss_65nm")


def test_enumeration_picks_true_minimum(small_space, paper_space):
    accs, deploy, tech = small_space
    reference = SimulatorCostModel(HwSetup(paper_space, deploy, tech, PredictorConfig()))
    assert len(accs) == 8 and len(set(accs)) == 8
    g = KNOWN_GENOTYPES["DARTS_V2"]
    brute = np.array([[float(v[0]) for v in evaluate([(g, a)], tech=tech, deploy=deploy)] for a in accs])
    rows = two_stage(
        ["DARTS_V2"], accs, lambda gen: enumerate_costs(gen, accs, reference), lambda name: (0.9, 0.8), BALANCED
    )
    by = {r["criterion"]: r for r in rows}
    assert by["energy"]["energy_mj"] == pytest.approx(brute[:, 0].min())
    assert by["energy"]["accelerator"] == str(accs[int(np.argmin(brute[:, 0]))])
    assert by["latency"]["latency_ms"] == pytest.approx(brute[:, 1].min())
    assert by["latency"]["accelerator"] == str(accs[int(np.argmin(brute[:, 1]))])
    rewards = [float(BALANCED(0.9, lat, e)) for e, lat in brute]
    assert by["reward"]["reward"] == pytest.approx(max(rewards))
    assert {r["n_accelerators"] for r in rows} == {8}
    assert by["energy"]["error_pct"] == pytest.approx(20.0)


def test_best_by_reward_differs_from_both_minima(small_space):
    accs = small_space[0][:3]
    energy, latency = np.array([1.0, 100.0, 2.0]), np.array([100.0, 0.1, 0.3])
    reward = Reward(0.5, -0.5, 0.5, -0.5)
    assert best_indices(energy, latency, reward(0.9, latency, energy)) == {"energy": 0, "latency": 1, "reward": 2}
    rows = network_rows("ENAS", accs, energy, latency, (0.9, 0.85, 1000, 400), reward)
    assert [r["accelerator"] for r in rows] == [str(a) for a in accs]
    assert rows[0]["val_accuracy_n"] == 1000 and rows[0]["test_accuracy_n"] == 400
    assert (rows[0]["val_accuracy_ci95_low"], rows[0]["val_accuracy_ci95_high"]) == (0.8798, 0.9171)  # Wilson 95 %
    assert rows[0]["test_accuracy_ci95_low"] < 0.85 < rows[0]["test_accuracy_ci95_high"]
    unknown = network_rows("ENAS", accs, energy, latency, (0.9, 0.85), reward)[0]  # sizes unknown: no interval
    assert unknown["test_accuracy_n"] is None and unknown["test_accuracy_ci95_low"] is None
    assert rows[2]["reward"] == pytest.approx(0.9 + 0.5 * (0.3 / 1.2) ** -0.5 + 0.5 * (2.0 / 9.0) ** -0.5)
    # NaN never wins
    assert best_indices([np.nan, 2.0], [np.nan, 3.0], [np.nan, 0.1]) == {"energy": 1, "latency": 1, "reward": 1}


def test_two_stage_shows_the_loop_order_where_the_space_searches_one(small_space, tmp_path):
    naas = AcceleratorSpace.from_config(
        {
            "pe_rows": [8, 16],
            "pe_cols": [8],
            "gbuf_kb": [108],
            "rbuf_bytes": [64],
            "connectivity": ["C-K", "PQ-K"],
            "loop_orders": ["KCP", "PKC"],
        }
    ).all()
    energy, latency = np.arange(1.0, 9.0), np.arange(8.0, 0.0, -1.0)
    rows = network_rows("ENAS", naas, energy, latency, (0.9, 0.85, 100, 100), BALANCED)
    assert [(r["dataflow"], r["loop_order"]) for r in rows[:2]] == [("C-K", "KCP"), ("PQ-K", "PKC")]
    md = two_stage_markdown(rows, BALANCED)
    assert "| loop order |" in md and "| PQ-K | PKC |" in md
    paper = network_rows("ENAS", small_space[0], energy, latency, (0.9, 0.85, 100, 100), BALANCED)
    assert paper[0]["loop_order"] is None and "loop order" not in two_stage_markdown(paper, BALANCED)
    write_outputs(tmp_path, [{**r, "enumeration_s": 0.1} for r in rows], BALANCED, {})
    assert [r["loop_order"] for r in load_two_stage(tmp_path)] == [r["loop_order"] for r in rows]


def test_check_models_names_allowed():
    assert check_models(["DARTS_V2", "ENAS"]) == ["DARTS_V2", "ENAS"]
    with pytest.raises(ConfigError, match=r"two_stage.models\[1\]='ResNet'.*NASNet-A"):
        check_models(["ENAS", "ResNet"])
    with pytest.raises(ConfigError, match="non-empty"):
        check_models([])


def test_standalone_cache_trains_once(tmp_path):
    calls = []
    train = lambda: calls.append(1) or (0.9, 0.8, 360, 360)  # noqa: E731
    assert cached_accuracy(tmp_path / "s.json", "k", "ENAS", train) == (0.9, 0.8, 360, 360)
    assert cached_accuracy(tmp_path / "s.json", "k", "ENAS", train) == (0.9, 0.8, 360, 360)
    assert len(calls) == 1
    cached_accuracy(tmp_path / "s.json", "other-config", "ENAS", train)
    assert len(calls) == 2
    (tmp_path / "old.json").write_text('{"k": {"ENAS": [0.9, 0.8]}}')  # an older cache: no split sizes
    assert cached_accuracy(tmp_path / "old.json", "k", "ENAS", train) == (0.9, 0.8, None, None)
    assert len(calls) == 2


def _rows(models, accs, energies, latencies):
    return [
        {"model": m, "criterion": c, "test_accuracy": a, "energy_mj": e, "latency_ms": lat}
        for m, a, e, lat in zip(models, accs, energies, latencies)
        for c in ("energy", "latency")
    ]


def test_matched_accuracy_uses_the_designs_upper_95_bound():
    # 0.9 on 1000 images: Wilson 95 % interval [0.8798, 0.9171]; a network up to 0.9171 is matched.
    np.testing.assert_array_equal(
        matched_mask([0.85, 0.90, 0.917, 0.918, np.nan], 0.9, 1000), [True, True, True, False, False]
    )
    np.testing.assert_array_equal(matched_mask([0.918, 0.923], 0.9, 1000, 0.5), [True, False])  # + 0.5 pp margin
    np.testing.assert_array_equal(matched_mask([0.918], 0.9, 10000), [False])  # n=10000: [0.8940, 0.9058]
    np.testing.assert_array_equal(matched_mask([0.9, 0.9001], 0.9, None), [True, False])  # size unknown: no interval
    np.testing.assert_array_equal(matched_mask([0.951], 0.95, None, 0.5), [True])
    design = {"test_accuracy": 0.9, "test_accuracy_n": 1000, "energy_mj": 5.0, "latency_ms": 0.5}
    out = compare(_rows(["A", "B", "C"], [0.91, 0.917, 0.92], [10.0, 20.0, 30.0], [1.0, 2.0, 3.0]), design)
    assert out["energy"]["matched"] == ["A", "B"] and out["energy"]["upper95"] == pytest.approx(0.91709, abs=1e-5)
    assert out["energy"]["text"] == "2.00x~4.00x"


def test_ratio_arithmetic():
    np.testing.assert_allclose(reduction_ratios([4.0, 6.0], 2.0), [2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        reduction_ratios([1.0], 0.0)
    assert ratio_range([2.0, 3.0, 9.0], [True, True, False]) == (2.0, 3.0)
    assert ratio_range([2.0], [False]) is None
    assert format_range((1.4234, 2.2871)) == "1.42x~2.29x"
    assert format_range((2.0, 2.0)) == "2.00x"
    assert "upper 95 % bound + 0.5 pp)" in format_range(None, 0.5)

    rows = _rows(["A", "B", "C"], [0.90, 0.95, 0.99], [10.0, 20.0, 30.0], [1.0, 2.0, 3.0])
    out = compare(rows, {"test_accuracy": 0.95, "test_accuracy_n": 1000, "energy_mj": 5.0, "latency_ms": 0.5})
    assert out["energy"]["matched"] == ["A", "B"] and out["energy"]["range"] == (2.0, 4.0)
    assert out["latency"]["range"] == (2.0, 4.0) and out["latency"]["text"] == "2.00x~4.00x"
    none = compare(rows, {"test_accuracy": 0.5, "test_accuracy_n": 1000, "energy_mj": 5.0, "latency_ms": 0.5})
    assert none["energy"]["range"] is None and none["energy"]["matched"] == []
    assert "no two-stage network" in none["latency"]["text"]


def test_ratios_reproduce_the_paper_claims():
    baselines, designs = paper_rows()
    by = {d["run"]: compare(baselines, d) for d in designs}  # n = 10000 CIFAR-10 test images, no extra margin
    assert by["YOSO_eer"]["energy"]["text"] == "1.42x~2.29x"
    assert by["YOSO_lat"]["latency"]["text"] == "1.79x~3.08x"  # the paper prints 3.07x (2.37/0.77 = 3.078)
    assert len(by["YOSO_eer"]["energy"]["matched"]) == 6  # 96.95 %: upper bound 97.27 % >= DARTS_V2's 97.18 %
    assert "DARTS_V2" not in by["YOSO_lat"]["latency"]["matched"]  # 96.82 %: upper bound 97.15 % < 97.18 %
    assert len(by["YOSO_lat"]["latency"]["matched"]) == 5


def test_report_names_run_dir_without_best_yaml(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="best.yaml not found"):
        load_design(tmp_path)
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(tmp_path)])
    assert "two_stage.csv not found" in capsys.readouterr().err


BEST = {
    "genotype": "DARTS_V2",
    "accelerator_str": "16x32/512KB/128B/OS",
    "accuracy": 0.9,
    "test_accuracy": 0.9,
    "accuracy_n": 360,
    "test_accuracy_n": 360,
    "hypernet_accuracy": 0.5,
    "energy_mj": 1.5,
    "latency_ms": 0.5,
    "reward": 2.0,
    "feasible": True,
    "iteration": 3,
    "reward_config": {"alpha1": 0.6, "omega1": -0.4, "alpha2": 0.3, "omega2": -0.2, "t_lat_ms": 1.2, "t_eer_mj": 9.0},
}


def test_two_stage_config_composes_only_what_it_uses():
    """conf/two_stage.yaml: search.yaml's data, space, accelerator, hw, reward, model (its stand-alone networks),
    trainer and seed, so the baseline matches the searches it is compared with; no strategy, constraints, logger."""
    from omegaconf import OmegaConf

    two, search = compose_config("two_stage"), compose_config("search")
    for key in ("data", "space", "accelerator", "hw", "reward", "model", "trainer"):
        assert OmegaConf.to_container(two[key]) == OmegaConf.to_container(search[key]), key
    assert two.seed == search.seed
    assert "strategy" not in two and "constraints" not in two and not two.get("logger")


def test_two_stage_on_a_board_reports_the_boards_figures(tmp_path, shared_cache, monkeypatch):
    """target=zcu102: every accelerator of the board's space costed by the reference cost on the board (its power,
    inf where a design does not fit): the rows carry FPS and resource use, and the chosen designs fit."""
    from omegaconf import open_dict

    from yoso.app import two_stage as flow
    from yoso.hw.fpga import fps

    cfg = compose_config(
        "two_stage", ["target=zcu102", "two_stage.models=[DARTS_V2]", f"paths.cache_dir={shared_cache}"]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    monkeypatch.setattr(flow, "cached_accuracy", lambda path, key, name, train: (0.5, 0.5, 32, 32))  # nothing trains
    rows = flow.run_two_stage(cfg)
    run = validate_config(cfg)
    energy, latency = run.reference_cost().evaluate_designs(
        [(KNOWN_GENOTYPES["DARTS_V2"], a) for a in run.space.accelerators.all()]
    )
    assert np.isinf(energy).any() and np.isfinite(energy).any()  # some of the board's space does not fit it
    by = {r["criterion"]: r for r in rows}
    assert by["energy"]["energy_mj"] == pytest.approx(energy[np.isfinite(energy)].min())
    assert all(r["fits"] == 1.0 and r["fps"] == pytest.approx(float(fps(r["latency_ms"]))) for r in rows)
    assert yaml.safe_load((tmp_path / "two_stage.yaml").read_text())["target"] == "zcu102"


def test_two_stage_and_report_end_to_end(tmp_path, shared_cache):
    run, search = tmp_path / "two_stage", tmp_path / "runs" / "search_energy"
    cmd = [
        sys.executable,
        str(ROOT / "two_stage.py"),
        "experiment=smoke",
        "two_stage.models=[DARTS_V2]",
        f"paths.cache_dir={shared_cache}",
        f"hydra.run.dir={run}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "960 accelerators" in proc.stdout + proc.stderr
    with open(run / "two_stage.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["criterion"] for r in rows] == ["energy", "latency", "reward"] and rows[0]["model"] == "DARTS_V2"
    assert (run / "two_stage.md").is_file() and (run / "standalone.json").is_file()
    assert len(yaml.safe_load((run / "two_stage.yaml").read_text())["rows"]) == 3
    assert rows[0]["test_accuracy_n"] == "32" and rows[0]["val_accuracy_n"] == "32"  # smoke: limit_*_batches=1 x 32
    low, acc, high = (float(rows[0][k]) for k in ("test_accuracy_ci95_low", "test_accuracy", "test_accuracy_ci95_high"))
    assert low <= acc <= high and high - low > 0.05  # 32 images: a wide interval
    assert "test acc [95 % CI] n" in (run / "two_stage.md").read_text() and "n=32" in (run / "two_stage.md").read_text()

    search.mkdir(parents=True)
    (search / "best.yaml").write_text(yaml.safe_dump(BEST))
    main([str(run), str(search)])  # python -m yoso.app.report RUN SEARCH, in-process
    report = (tmp_path / "runs" / "report" / "report.md").read_text()
    assert "search_energy" in report and "| energy |" in report and "1.42x~2.29x" in report
    assert "0.9000 [0.8647, 0.9269] n=360" in report and "n=32" in report and "n=10000" in report
    assert "upper bound of the searched design's 95 % interval" in report
    old = tmp_path / "old_two_stage"  # a two_stage.csv written before the interval columns still loads
    old.mkdir()
    with open(run / "two_stage.csv", newline="") as f, open(old / "two_stage.csv", "w", newline="") as g:
        writer = csv.DictWriter(
            g, fieldnames=[c for c in CSV_COLUMNS if c not in INTERVAL_COLUMNS], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(csv.DictReader(f))
    assert [r["test_accuracy_n"] for r in load_two_stage(old)] == [None] * 3
    assert (tmp_path / "runs" / "report" / "report.png").stat().st_size > 0
