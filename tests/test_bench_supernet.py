"""benchmarks/bench_supernet.py: the rank-fidelity statistics on synthetic numbers, and a tiny end-to-end run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import load_benchmark

bench = load_benchmark("bench_supernet")
#: Tied bootstrap resamples of 3 architectures give constant inputs (dropped as NaN by yoso.stats).
pytestmark = pytest.mark.filterwarnings("ignore:An input array is constant")


def test_perfect_ranking_gives_tau_one_and_interval_excludes_zero():
    hyper = np.linspace(0.5, 0.9, 12)
    standalone = np.column_stack([hyper + 0.05, hyper + 0.07])  # same order, seed offsets equal for every arch
    s = bench.summarise(hyper, standalone, n_val=1000, samples=200)
    assert s["kendall_tau"] == pytest.approx(1.0)
    assert s["spearman"] == pytest.approx(1.0)
    assert s["kendall_tau_ci95_low"] == pytest.approx(1.0) and s["tau_excludes_zero"]
    assert "excludes 0" in bench.verdict(s) and "better than chance" in bench.verdict(s)


def test_pooled_seed_sd_spread_and_binomial_noise():
    runs = np.array([[0.80, 0.82], [0.70, 0.74], [0.90, 0.90]])  # deviations from the arch means: ±0.01, ±0.02, 0
    hyper = [0.6, 0.5, 0.7]
    s = bench.summarise(hyper, runs, n_val=400, n_val_standalone=100, samples=100)
    # pooled within-arch variance: sum of squared deviations / (archs * (seeds - 1)) = (2e-4 + 8e-4 + 0) / 3
    seed_sd = math.sqrt(1e-3 / 3)
    assert s["seed_sd"] == pytest.approx(seed_sd)
    assert s["seed_sd_of_mean"] == pytest.approx(seed_sd / math.sqrt(2))
    means = np.array([0.81, 0.72, 0.90])
    assert s["standalone_spread_sd"] == pytest.approx(means.std(ddof=1))
    assert s["standalone_range"] == pytest.approx(0.18)
    p = means.mean()
    assert s["binomial_sd"] == pytest.approx(math.sqrt(p * (1 - p) / 100))  # at n_val_standalone
    assert s["binomial_sd_of_mean"] == pytest.approx(s["binomial_sd"] / math.sqrt(2))
    assert s["noise_of_mean"] == pytest.approx(max(s["seed_sd_of_mean"], s["binomial_sd_of_mean"]))
    assert s["spread_to_noise"] == pytest.approx(s["standalone_spread_sd"] / s["noise_of_mean"])
    assert s["hypernet_binomial_sd"] == pytest.approx(math.sqrt(0.6 * 0.4 / 400))
    assert s["hypernet_spread_sd"] == pytest.approx(0.1)
    assert (s["n_val"], s["n_val_standalone"], s["n_archs"], s["n_seeds"], s["pairs"]) == (400, 100, 3, 2, 3)


def test_differences_within_noise_are_called_so():
    rng = np.random.default_rng(0)
    runs = 0.9 + rng.normal(0, 0.01, size=(24, 2))  # no real differences: all spread is seed noise
    hyper = rng.uniform(0.5, 0.6, size=24)
    s = bench.summarise(hyper, runs, n_val=300, samples=300)
    assert s["spread_to_noise"] < 2
    assert s["pairs_within_noise"] > s["pairs"] // 2
    assert not s["tau_excludes_zero"]
    text = bench.verdict(s)
    assert "within noise" in text and "includes 0" in text


def test_one_seed_has_no_seed_noise_and_binomial_decides():
    s = bench.summarise([0.1, 0.2, 0.3], [[0.5], [0.6], [0.7]], n_val=100, samples=50)
    assert math.isnan(s["seed_sd"])
    assert s["noise_source"] == "binomial"
    assert s["noise_of_mean"] == pytest.approx(s["binomial_sd"])


def test_read_cache_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "standalone.jsonl"
    good = {"key": "k", "genotype_id": "g", "seed": 0, "val_acc": 0.5, "test_acc": 0.4}
    path.write_text(json.dumps(good) + "\n" + '{"key": "k", "genotype_id": "h", "se')
    assert bench.read_cache(path) == {("k", "g"): good}


@pytest.mark.slow
def test_tiny_end_to_end_run_and_resume(tmp_path, capsys):
    args = [
        "--archs",
        "3",
        "--seeds",
        "0",
        "1",
        "--bootstrap",
        "50",
        "--out",
        str(tmp_path / "out"),
        "--json",
        "data=digits",
        "experiment=smoke",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    record = bench.main(args)
    printed = json.loads(capsys.readouterr().out)
    assert printed["summary"]["n_archs"] == 3 and printed["summary"]["n_seeds"] == 2
    assert record["timing"]["standalone_trained"] == 6
    for name in ("results.json", "results.md", "rank.png", "standalone.jsonl"):
        assert (tmp_path / "out" / name).is_file()
    assert len((tmp_path / "out" / "standalone.jsonl").read_text().splitlines()) == 6
    again = bench.main(args)  # resumes: nothing retrained, same figures
    assert again["timing"]["standalone_cached"] == 6
    assert [r["standalone"] for r in again["archs"]] == [r["standalone"] for r in record["archs"]]
