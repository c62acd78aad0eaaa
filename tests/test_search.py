"""End-to-end single-stage search on the smoke experiment: files, determinism, SIGKILL + resume, loggers."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import REWARD, ROOT, STRATEGIES, compose_config, fake_hardware, load_benchmark, make_loop
from omegaconf import open_dict

from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import Genotype

bench_resume = load_benchmark("bench_resume")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cache_dir(shared_cache: Path) -> Path:
    """The session's cache (HyperNet, simulator samples, GP), shared with every other module's runs."""
    return shared_cache


def _search(out: Path, cache: Path, *overrides: str) -> dict:
    from yoso.app.pipeline import run_search

    cfg = compose_config("search", [f"paths.cache_dir={cache}", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return run_search(cfg)


def test_hypernet_cache_reuses_the_hypernet_and_resumes_an_interrupted_training(tmp_path: Path, caplog) -> None:
    """paths.cache_dir/hypernets/<key>: hypernet.ckpt reused by the next run; without it, the last.ckpt of an
    interrupted training is resumed; no temporary file is left."""
    cfg = compose_config("search", [f"paths.cache_dir={tmp_path}"])
    root = tmp_path / "hypernets" / validate_config(cfg).hypernet_key
    with caplog.at_level("INFO", logger="yoso.search"):
        trained = validate_config(cfg).hypernet()  # a fresh Run each time: it builds its HyperNet once
        assert "training the HyperNet (1 epochs)" in caplog.text and "reusing" not in caplog.text
        caplog.clear()
        reused = validate_config(cfg).hypernet()
        assert (
            caplog.text.count(f"reusing the HyperNet {root / 'hypernet.ckpt'}") == 1 and "training" not in caplog.text
        )
        torch.testing.assert_close(reused.state_dict(), trained.state_dict())
        (root / "hypernet.ckpt").unlink()  # as if killed after the last epoch's checkpoint
        caplog.clear()
        validate_config(cfg).hypernet()
        assert "(resuming)" in caplog.text
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == ["hypernet.ckpt", "hypernet.ckpt.lock", "last.ckpt"]


def test_one_hypernet_serves_every_accelerator_space(tmp_path: Path) -> None:
    """The HyperNet's weights do not depend on the accelerator space (each path's DNN decisions are drawn first), so
    accelerator=naas and a board reuse the paper space's HyperNet, handed the run's accelerator space."""
    paper = validate_config(compose_config("search", [f"paths.cache_dir={tmp_path}"]))
    others = [
        validate_config(compose_config("search", [f"paths.cache_dir={tmp_path}", o]))
        for o in ("accelerator=naas", "target=ultra96")
    ]
    assert {r.hypernet_key for r in others} == {paper.hypernet_key}
    spaces = [r.space for r in (paper, *others)]
    nd = spaces[0].num_dnn_decisions
    for step in range(50):  # the training paths' networks are the same in every space
        rng = [np.random.default_rng(np.random.SeedSequence(0, spawn_key=(0, step))) for _ in spaces]
        firsts = [sp.sample(1, r)[0][:nd] for sp, r in zip(spaces, rng)]
        assert all((f == firsts[0]).all() for f in firsts)
    datamodule = paper.datamodule()
    trained = paper.hypernet()
    naas = others[0].hypernet()
    torch.testing.assert_close(naas.state_dict(), trained.state_dict())
    assert naas.space.accelerators == spaces[1].accelerators and len(naas.space) == len(spaces[1])
    assert naas.val_genotypes == trained.val_genotypes
    naas.evaluator(datamodule)
    assert 0 <= naas.accuracy(spaces[1].sample(2, 0)).min()  # decodes the naas space's vectors


def test_inner_accelerator_runs_each_network_on_its_best_accelerator(
    tmp_path: Path, cache_dir: Path, smoke_table: Path
) -> None:
    """search.inner_accelerator (NAAS's outer/inner split): the chosen design's accelerator is the one of the space
    with the largest reward for its network under the simulator (feasible first); a one-shot strategy is refused
    before any work."""
    from yoso.hw import evaluate
    from yoso.space import Accelerator, Genotype

    overrides = (
        "accuracy_model=predictor",
        f"accuracy_model.table={smoke_table}",
        "search.inner_accelerator=true",
        "reward=energy",
        "search.standalone=false",
    )
    best = _search(tmp_path / "run", cache_dir, *overrides)
    run = validate_config(compose_config("search", [f"paths.cache_dir={cache_dir}", *overrides]))
    assert run.space is not None and run.reward is not None
    saved = yaml.safe_load((tmp_path / "run" / "best.yaml").read_text())
    genotype, chosen = Genotype.from_dict(saved["genotype"]), Accelerator.from_dict(saved["accelerator"])
    accs = run.space.accelerators.all()
    energy, latency = evaluate([(genotype, a) for a in accs])
    terms = run.reward.hardware_terms(latency, energy)
    feasible = run.reward.constraints.feasible(latency, energy)
    expected = accs[int(np.argmax(np.where(feasible, terms, -np.inf) if feasible.any() else terms))]
    assert chosen == expected and best["accelerator"] == expected.to_dict()
    with pytest.raises(ConfigError, match="search.inner_accelerator"):
        one_shot = ("strategy=differentiable", "space=yoso", "accuracy_model=hypernet", "search.inner_accelerator=true")
        _search(tmp_path / "one_shot", cache_dir, *one_shot)


def test_smoke_search_writes_history_best_and_pareto(tmp_path: Path, cache_dir: Path) -> None:
    best = _search(tmp_path, cache_dir, "reward=energy", "accuracy_model=hypernet")
    rows = _rows(tmp_path / "history.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(8))
    assert all(np.isfinite(float(r["reward"])) for r in rows)
    saved = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert saved["reward"] == pytest.approx(best["reward"])
    for key in ("genotype", "accelerator", "accuracy", "energy_mj", "latency_ms", "reward"):
        assert key in saved
    # smoke: stand-alone accuracies on limit_val/test_batches=1 x 32 images, the HyperNet's on the 360-image val split
    assert (saved["accuracy_n"], saved["test_accuracy_n"], saved["hypernet_accuracy_n"]) == (32, 32, 360)
    for key in ("accuracy", "test_accuracy", "hypernet_accuracy"):
        assert saved[f"{key}_ci95_low"] <= round(saved[key], 4) <= saved[f"{key}_ci95_high"]
    (entry,) = torch.load(tmp_path / "search.ckpt", weights_only=True)["engine"]["final"].values()  # top_n = 1
    assert entry["accuracy"] == saved["accuracy"] and entry["test_accuracy_n"] == 32
    assert saved["reward_config"]["alpha1"] == 0.6  # reward=energy
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0 <= saved["iteration"] < 8


@pytest.mark.parametrize("strategy", ["reinforce", "random"])
def test_same_seed_gives_the_same_history(tmp_path: Path, cache_dir: Path, strategy: str) -> None:
    runs = []
    for name in ("a", "b"):
        _search(tmp_path / name, cache_dir, f"strategy={strategy}", "search.standalone=false", "seed=3")
        runs.append(bench_resume.history_rows(tmp_path / name / "history.csv"))
    assert len(runs[0]) == 8 and runs[0] == runs[1]


#: The strategy whose end-to-end kill + resume runs in the default suite; every other sampling strategy's runs only
#: with ``-m slow`` (the loop tests cover every crash window of every strategy in-process: test_search_loop).
DEFAULT_SIGKILL = "reinforce"


@pytest.mark.parametrize(
    "strategy", [s if s == DEFAULT_SIGKILL else pytest.param(s, marks=pytest.mark.slow) for s in STRATEGIES]
)
def test_sigkill_twice_then_resume_equals_the_uninterrupted_run(tmp_path: Path, cache_dir: Path, strategy: str) -> None:
    """``search.py strategy=X experiment=smoke`` killed twice mid-run, each time started again with the same command:
    every iteration once, the uninterrupted run's history, and a checkpoint torch's safe loader opens."""
    iterations = 18
    run_dir, reference = tmp_path / "killed", tmp_path / "reference"
    overrides = (f"strategy={strategy}", f"search.iterations={iterations}")
    command = bench_resume.search_command(run_dir, cache_dir, *overrides)
    subprocess.run(
        bench_resume.search_command(reference, cache_dir, *overrides),
        check=True,
        capture_output=True,
        timeout=300,
        env=bench_resume.ENV,
    )
    killed_at = bench_resume.run_killed(command, run_dir, (5, 11))
    assert 5 < killed_at[0] < killed_at[1] < iterations
    rows = bench_resume.history_rows(run_dir / "history.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(iterations))
    assert rows == bench_resume.history_rows(reference / "history.csv")
    assert yaml.safe_load((run_dir / "best.yaml").read_text())["genotype"]
    assert torch.load(run_dir / "search.ckpt", weights_only=True)["engine"]["step"] > 0


def test_hard_constraints_give_a_simulator_feasible_design_or_none(tmp_path: Path, cache_dir: Path) -> None:

    best = _search(
        tmp_path / "loose",
        cache_dir,
        "constraints=hard",
        "constraints.t_lat_ms=3",
        "constraints.t_eer_mj=30",
        "search.iterations=16",
        "search.top_n=2",
        "search.standalone=false",
    )
    saved = yaml.safe_load((tmp_path / "loose" / "best.yaml").read_text())
    assert saved["feasible"] and saved["constraints"] == {
        "t_lat_ms": 3.0,
        "t_eer_mj": 30.0,
        "hard": True,
        "penalty": 0.0,
        "min_fps": None,
    }
    cfg = compose_config("search", [f"paths.cache_dir={cache_dir}"])
    space = validate_config(cfg).space
    vector = np.array(
        [space.encode(Genotype.from_dict(saved["genotype"]), Accelerator.from_dict(saved["accelerator"]))]
    )
    energy, latency = validate_config(cfg).cost_model("simulator")(vector)
    assert latency[0] <= 3.0 and energy[0] <= 30.0 and best["energy_mj"] == pytest.approx(energy[0])
    rows = _rows(tmp_path / "loose" / "history.csv")
    assert {r["feasible"] for r in rows} <= {"0", "1"}

    nothing = _search(
        tmp_path / "impossible", cache_dir, "constraints=hard", "constraints.t_lat_ms=1e-6", "search.standalone=false"
    )
    assert nothing["feasible"] is False and not (tmp_path / "impossible" / "best.yaml").exists()
    assert {r["feasible"] for r in _rows(tmp_path / "impossible" / "history.csv")} == {"0"}


def test_csv_logger_records_the_trajectory(tmp_path: Path, cache_dir: Path) -> None:
    _search(tmp_path, cache_dir, "logger=csv", "search.standalone=false")
    (metrics,) = tmp_path.glob("csv/*/metrics.csv")
    rows = _rows(metrics)
    rewards = [float(r["search/reward"]) for r in rows if r.get("search/reward")]
    best = [float(r["search/best_reward"]) for r in rows if r.get("search/best_reward")]
    assert len(rewards) == 8 and best == list(np.maximum.accumulate(rewards))
    assert any(r.get("controller/entropy") for r in rows) and any(r.get("final/reward") for r in rows)


def test_wandb_logger_writes_an_offline_run(tmp_path: Path, cache_dir: Path) -> None:
    _search(tmp_path, cache_dir, "logger=wandb", "search.standalone=false")
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))


@pytest.mark.parametrize("launcher", ["basic", pytest.param("joblib", marks=pytest.mark.slow)])  # same sweep, processes
def test_multirun_sweeps_reward_presets(tmp_path: Path, cache_dir: Path, launcher: str) -> None:
    command = [
        sys.executable,
        str(ROOT / "search.py"),
        "-m",
        "experiment=smoke",
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.cache_dir={cache_dir}",
        "search.standalone=false",
        "reward=energy,latency",
    ]
    if launcher == "joblib":
        command.append("hydra.launcher.n_jobs=2")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    alphas = sorted(
        yaml.safe_load((tmp_path / job / "best.yaml").read_text())["reward_config"]["alpha1"] for job in ("0", "1")
    )
    assert alphas == [0.3, 0.6]  # latency, energy
    assert all(len(_rows(tmp_path / job / "history.csv")) == 8 for job in ("0", "1"))


def test_final_step_keeps_split_sizes_and_intervals(space, tmp_path: Path) -> None:
    from yoso.search.final import TABLE_COLUMNS, FinalProgress, best_record, final_step, table_rows

    experiment = make_loop("random", space, tmp_path, 6)
    history = experiment.run()
    calls = []
    train = lambda genotype: calls.append(genotype) or (0.9, 0.8, 1000, 400)  # noqa: E731
    rows, chosen = final_step(history, REWARD, 2, fake_hardware, train, experiment.final_progress(), hypernet_n=360)
    row = rows[chosen]
    assert (row["accuracy_n"], row["accuracy_ci95_low"], row["accuracy_ci95_high"]) == (1000, 0.8798, 0.9171)
    assert row["test_accuracy_n"] == 400 and row["hypernet_accuracy_n"] == 360
    done = torch.load(tmp_path / "search.ckpt", weights_only=True)["engine"]["final"]  # committed after each one
    assert len(done) == 2 and make_loop("random", space, tmp_path, 6).final == done  # a resumed run has them
    assert all(
        e["accuracy_n"] == 1000 and e["test_accuracy_ci95_high"] == row["test_accuracy_ci95_high"]
        for e in done.values()
    )
    best = best_record(row, REWARD)
    assert best["accuracy"] == 0.9 and best["accuracy_n"] == 1000 and best["test_accuracy_ci95_low"] < 0.8
    table = table_rows(rows)
    assert list(table[0]) == list(TABLE_COLUMNS) and table[0]["accuracy"] == "0.9000 [0.8798, 0.9171] n=1000"
    # resumed: no retraining; an older entry ([val, test]) gives no sizes
    older = FinalProgress({k: [0.9, 0.8] for k in done})
    again, _ = final_step(history, REWARD, 2, fake_hardware, train, older, hypernet_n=360)
    assert len(calls) == 2 and again[0]["accuracy_n"] is None and again[0]["accuracy_ci95_low"] is None
    assert table_rows(again)[0]["accuracy"] == "0.9000"
    kept, _ = final_step(history, REWARD, 2, fake_hardware, None, hypernet_n=360)  # no training: HyperNet accuracy
    assert kept[0]["accuracy"] == kept[0]["hypernet_accuracy"] and kept[0]["accuracy_n"] == 360
    assert np.isnan(kept[0]["test_accuracy"]) and kept[0]["test_accuracy_ci95_low"] is None


def test_final_step_of_a_predictor_search_carries_the_predictive_interval(space, tmp_path: Path) -> None:
    """A search ranked by a predictor: the final rows hold ``predicted_accuracy`` with its 95 % predictive interval
    (mean +- 1.96 std), no HyperNet accuracy; the table, best.yaml, front.csv and pareto.png say so."""
    import csv

    from yoso.search.final import best_record, final_step, table_columns, table_rows, write_front
    from yoso.search.report import plot_pareto

    history = make_loop("random", space, tmp_path, 6).run()

    def predicted(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(vectors), 0.85), np.full(len(vectors), 0.01)

    train = lambda genotype: (0.86, 0.84, 1000, 400)  # noqa: E731
    rows, chosen = final_step(history, REWARD, 2, fake_hardware, train, predicted=predicted, front_k=2)
    row = rows[chosen]
    assert "hypernet_accuracy" not in row and row["predicted_accuracy"] == 0.85
    assert (row["predicted_accuracy_ci95_low"], row["predicted_accuracy_ci95_high"]) == pytest.approx((0.8304, 0.8696))
    assert table_columns(rows)[4] == "predicted_accuracy"
    assert table_rows(rows)[0]["predicted_accuracy"] == "0.8500 [0.8304, 0.8696] predicted"
    best = best_record(row, REWARD)
    assert best["predicted_accuracy_ci95_high"] == pytest.approx(0.8696) and "hypernet_accuracy_n" not in best
    with open(write_front(tmp_path / "front.csv", rows), newline="") as f:
        front = list(csv.DictReader(f))
    assert len(front) == len(rows) and float(front[0]["search_accuracy_ci95_low"]) == pytest.approx(0.8304)
    png = plot_pareto(
        tmp_path / "pareto.png",
        history.accuracy,
        history.energy_mj,
        history.latency_ms,
        accuracy_label="predicted stand-alone accuracy",
        verified=rows,
        chosen_verified=chosen,
    )
    assert png.stat().st_size > 10_000
    untrained, _ = final_step(history, REWARD, 2, fake_hardware, None, predicted=predicted)
    assert untrained[0]["accuracy_n"] is None  # a prediction stands in: no image count, no Wilson interval


def test_inner_accelerator_prefers_a_feasible_accelerator(space) -> None:
    """The designer takes the largest hardware terms (the reward's: cheaper earns more) among the accelerators the
    constraints accept, all of them when none is, and replaces only the candidates' accelerator decisions."""
    from yoso.search.constraints import Constraints
    from yoso.search.inner import InnerAccelerator
    from yoso.search.reward import Reward

    n = space.accelerators.size
    energy = np.linspace(1.0, 2.0, n)  # the first accelerator has the least energy ...
    latency = np.linspace(2.0, 1.0, n)  # ... and the most latency
    reward = Reward(alpha1=0.0, omega1=-1.0, alpha2=1.0, omega2=-1.0)  # energy alone
    fast_only = InnerAccelerator(space, lambda designs: (energy, latency), reward, Constraints(t_lat_ms=1.5))
    vectors = space.sample(3, 0)
    designed = fast_only(vectors)
    first = space.num_dnn_decisions
    assert (designed[:, :first] == vectors[:, :first]).all()
    chosen = space.accelerators.accelerator(*designed[0, first:])
    feasible = np.flatnonzero(latency <= 1.5)
    assert chosen == space.accelerators.all()[feasible[0]]  # the least energy among the fast enough
    chosen_energy, chosen_latency = fast_only.figures(designed)  # the designed candidates' figures, not re-costed
    assert (chosen_energy == energy[feasible[0]]).all() and (chosen_latency == latency[feasible[0]]).all()
    anything = InnerAccelerator(space, lambda designs: (energy, latency), reward, Constraints(t_lat_ms=0.5))
    assert space.accelerators.accelerator(*anything(vectors)[0, first:]) == space.accelerators.all()[0]
