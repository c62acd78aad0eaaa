"""The two-stage baseline (yoso.baseline, two_stage.py) and the comparison report (yoso.report)."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import yaml

from yoso.baseline import best_indices, cached_accuracy, check_models, network_rows, two_stage
from yoso.config import ConfigError
from yoso.hw.layers import Deploy
from yoso.hw.simulator import evaluate
from yoso.hw.table2 import all_accelerators, enumerate_costs
from yoso.hw.tech import load_tech
from yoso.report import (compare, format_range, load_design, main, matched_mask, paper_rows, ratio_range,
                         reduction_ratios)  # fmt: skip
from yoso.search.reward import Reward
from yoso.space.accelerator import AcceleratorSpace
from yoso.space.known import KNOWN_GENOTYPES

from conftest import ROOT

BALANCED = Reward(0.5, -0.4, 0.5, -0.4)


@pytest.fixture(scope="module")
def small_space():
    """2 PE arrays x 2 global buffers x 1 register file x 2 dataflows = 8 accelerators, a small deploy net."""
    space = AcceleratorSpace.from_config(
        {"pe_arrays": ["8x8", "16x32"], "gbuf_kb": [108, 512], "rbuf_bytes": [64], "dataflows": ["WS", "RS"]}
    )
    return all_accelerators(space), Deploy(channels=8, cells=5), load_tech("eyeriss_65nm")


def test_enumeration_picks_true_minimum(small_space):
    accs, deploy, tech = small_space
    assert len(accs) == 8 and len(set(accs)) == 8
    g = KNOWN_GENOTYPES["DARTS_V2"]
    brute = np.array([[float(v[0]) for v in evaluate([(g, a)], tech=tech, deploy=deploy)] for a in accs])
    rows = two_stage(["DARTS_V2"], accs, lambda gen: enumerate_costs(gen, accs, tech, deploy),
                     lambda name: (0.9, 0.8), BALANCED)  # fmt: skip
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
    rows = network_rows("ENAS", accs, energy, latency, (0.9, 0.85), reward)
    assert [r["accelerator"] for r in rows] == [str(a) for a in accs]
    assert rows[2]["reward"] == pytest.approx(0.9 + 0.5 * (0.3 / 1.2) ** -0.5 + 0.5 * (2.0 / 9.0) ** -0.5)
    # NaN never wins
    assert best_indices([np.nan, 2.0], [np.nan, 3.0], [np.nan, 0.1]) == {"energy": 1, "latency": 1, "reward": 1}


def test_check_models_names_allowed():
    assert check_models(["DARTS_V2", "ENAS"]) == ["DARTS_V2", "ENAS"]
    with pytest.raises(ConfigError, match=r"two_stage.models\[1\]='ResNet'.*NASNet-A"):
        check_models(["ENAS", "ResNet"])
    with pytest.raises(ConfigError, match="non-empty"):
        check_models([])


def test_standalone_cache_trains_once(tmp_path):
    calls = []
    train = lambda: calls.append(1) or (0.9, 0.8)  # noqa: E731
    assert cached_accuracy(tmp_path / "s.json", "k", "ENAS", train) == (0.9, 0.8)
    assert cached_accuracy(tmp_path / "s.json", "k", "ENAS", train) == (0.9, 0.8)
    assert len(calls) == 1
    cached_accuracy(tmp_path / "s.json", "other-config", "ENAS", train)
    assert len(calls) == 2


def _rows(models, accs, energies, latencies):
    return [{"model": m, "criterion": c, "test_accuracy": a, "energy_mj": e, "latency_ms": lat}
            for m, a, e, lat in zip(models, accs, energies, latencies) for c in ("energy", "latency")]  # fmt: skip


def test_ratio_arithmetic():
    np.testing.assert_array_equal(matched_mask([0.90, 0.951, 0.96, np.nan], 0.95, 0.5), [True, True, False, False])
    np.testing.assert_array_equal(matched_mask([0.951], 0.95, 0.0), [False])
    np.testing.assert_allclose(reduction_ratios([4.0, 6.0], 2.0), [2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        reduction_ratios([1.0], 0.0)
    assert ratio_range([2.0, 3.0, 9.0], [True, True, False]) == (2.0, 3.0)
    assert ratio_range([2.0], [False]) is None
    assert format_range((1.4234, 2.2871)) == "1.42x~2.29x"
    assert format_range((2.0, 2.0)) == "2.00x"
    assert "no two-stage network at matched accuracy" in format_range(None, 0.5)

    rows = _rows(["A", "B", "C"], [0.90, 0.95, 0.99], [10.0, 20.0, 30.0], [1.0, 2.0, 3.0])
    out = compare(rows, {"test_accuracy": 0.95, "energy_mj": 5.0, "latency_ms": 0.5}, 0.5)
    assert out["energy"]["matched"] == ["A", "B"] and out["energy"]["range"] == (2.0, 4.0)
    assert out["latency"]["range"] == (2.0, 4.0) and out["latency"]["text"] == "2.00x~4.00x"
    none = compare(rows, {"test_accuracy": 0.5, "energy_mj": 5.0, "latency_ms": 0.5}, 0.5)
    assert none["energy"]["range"] is None and none["energy"]["matched"] == []
    assert "no two-stage network" in none["latency"]["text"]


def test_ratios_reproduce_the_paper_claims():
    baselines, designs = paper_rows()
    by = {d["run"]: compare(baselines, d, 0.5) for d in designs}
    assert by["YOSO_eer"]["energy"]["text"] == "1.42x~2.29x"
    assert by["YOSO_lat"]["latency"]["text"] == "1.79x~3.08x"  # the paper prints 3.07x (2.37/0.77 = 3.078)


def test_report_names_run_dir_without_best_yaml(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="best.yaml not found"):
        load_design(tmp_path)
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(tmp_path)])
    assert "two_stage.csv not found" in capsys.readouterr().err


BEST = {"genotype": "DARTS_V2", "accelerator_str": "16x32/512KB/128B/OS", "accuracy": 0.9, "test_accuracy": 0.9,
        "hypernet_accuracy": 0.5, "energy_mj": 1.5, "latency_ms": 0.5, "reward": 2.0, "feasible": True,
        "iteration": 3, "reward_config": {"alpha1": 0.6, "omega1": -0.4, "alpha2": 0.3, "omega2": -0.2,
                                          "t_lat_ms": 1.2, "t_eer_mj": 9.0}}  # fmt: skip


def test_two_stage_and_report_end_to_end(tmp_path):
    run, search = tmp_path / "two_stage", tmp_path / "runs" / "search_energy"
    cmd = [sys.executable, str(ROOT / "two_stage.py"), "experiment=smoke", "two_stage.models=[DARTS_V2]",
           f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "960 accelerators" in proc.stdout + proc.stderr
    with open(run / "two_stage.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["criterion"] for r in rows] == ["energy", "latency", "reward"] and rows[0]["model"] == "DARTS_V2"
    assert (run / "two_stage.md").is_file() and (run / "standalone.json").is_file()
    assert len(yaml.safe_load((run / "two_stage.yaml").read_text())["rows"]) == 3

    search.mkdir(parents=True)
    (search / "best.yaml").write_text(yaml.safe_dump(BEST))
    main([str(run), str(search)])  # python -m yoso.report RUN SEARCH, in-process
    report = (tmp_path / "runs" / "report" / "report.md").read_text()
    assert "search_energy" in report and "| energy |" in report and "1.42x~2.29x" in report
    assert (tmp_path / "runs" / "report" / "report.png").stat().st_size > 0

