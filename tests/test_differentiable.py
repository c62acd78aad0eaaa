"""strategy=differentiable: relaxation, cost model, HDX rule, derived genotypes, config checks (no Trainer)."""

from __future__ import annotations

import csv
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import ROOT, compose_config

from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.nn import HyperNet
from yoso.predictor.relaxed import CostMLP, MLPSettings, RelaxedEncoding
from yoso.search.constraints import Constraints
from yoso.search.differentiable import (
    DifferentiableSearchModule,
    DifferentiableSettings,
    RelaxedDesign,
    hdx_gradient,
    pair_inclusion,
)
from yoso.search.history import History
from yoso.search.reward import Reward

REWARD = Reward(0.5, -0.4, 0.5, -0.4, 1.2, 9.0)


@pytest.fixture(scope="module")
def space(paper_space):
    """The differentiable strategy relaxes the paper's space (it refuses the elastic one)."""
    return paper_space


@pytest.fixture(scope="module")
def net(space) -> HyperNet:
    torch.manual_seed(0)
    return HyperNet(space.cells, (1, 8, 8), 10, channels=4, num_cells=3, stem_multiplier=1, dirac_init=0.3)


@pytest.fixture(scope="module")
def cost(space) -> CostMLP:
    """An untrained cost MLP (random weights): every property below holds for any weights."""
    torch.manual_seed(1)
    return CostMLP(RelaxedEncoding(space), MLPSettings(hidden=32)).eval()


def _module(space, net, cost, constraints: Constraints, **settings) -> DifferentiableSearchModule:
    return DifferentiableSearchModule(
        space,
        net,
        cost,
        REWARD,
        constraints,
        DifferentiableSettings(**settings),
        0,
        History(space),
        simulator=None,
        datamodule=None,
        bn_recalibration_batches=0,
    )


def _derived_like(space, seed: int) -> np.ndarray:
    """A candidate whose nodes read two distinct inputs, the lower first (what a relaxed design derives)."""
    rng = np.random.default_rng(seed)
    vec = space.sample(1, rng)[0]
    for k in range(space.num_dnn_decisions // 4):
        node = 2 + k % space.cells.num_nodes
        vec[4 * k], vec[4 * k + 2] = sorted(rng.choice(node, size=2, replace=False))
    return vec


def test_pair_inclusion_matches_enumerating_two_draws_without_replacement() -> None:
    logits = torch.tensor([0.3, -1.2, 2.0, 0.0, 0.7], dtype=torch.float64)
    p = torch.softmax(logits, 0).numpy()
    expected = np.zeros(5)
    for first, second in itertools.permutations(range(5), 2):
        prob = p[first] * p[second] / (1 - p[first])
        expected[first] += prob
        expected[second] += prob
    got = pair_inclusion(logits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert got.sum() == pytest.approx(2.0)
    sharp = pair_inclusion(torch.tensor([60.0, 0.0, 60.0, -3.0], dtype=torch.float64))
    np.testing.assert_allclose(sharp.numpy(), [1, 0, 1, 0], atol=1e-12)


def test_gradients_reach_the_architecture_and_accelerator_logits(space, net, cost) -> None:
    module = _module(space, net, cost, REWARD.constraints)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    module.arch_gradients(x, y, tau=1.0)
    for name, param in module.design.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert len(module.design.alphas) == 2 * space.cells.num_nodes and len(module.design.accel_logits) == 4


def test_relaxed_cost_and_forward_at_a_one_hot_point_equal_the_hard_candidate(space, net, cost) -> None:
    design = RelaxedDesign(space)
    for seed in range(3):
        vector = _derived_like(space, seed)
        design.set_candidate(vector)
        with torch.no_grad():
            relaxed = design.relaxed_encoding()
            np.testing.assert_allclose(relaxed.numpy(), design.encoding.hard(vector[None])[0], atol=1e-6)
            energy, latency = cost.predict(vector[None])
            log_cost = cost(relaxed).double().numpy()
        np.testing.assert_allclose(np.exp(log_cost), [energy[0], latency[0]], rtol=1e-5)
        # the mixed network at that point is the genotype's sub-network (eval-mode BatchNorm)
        genotype, _ = space.decode(vector)
        edges = design.edge_weights()
        net.eval()
        x = torch.randn(4, 1, 8, 8)
        with torch.no_grad():
            mixed = net.forward_relaxed(x, edges, design.output_weights(edges))
            hard = net(x, genotype)
        net.train()
        torch.testing.assert_close(mixed, hard, rtol=1e-4, atol=1e-5)


def test_derived_genotypes_round_trip_through_the_space(space) -> None:
    generator = torch.Generator().manual_seed(0)
    for seed in range(5):
        design = RelaxedDesign(space, init_noise=1.0, generator=generator)
        vector = design.derive()
        genotype, accelerator = space.decode(vector)  # a valid genotype of the one space module
        np.testing.assert_array_equal(space.encode(genotype, accelerator), vector)
        for k in range(space.num_dnn_decisions // 4):
            assert vector[4 * k] != vector[4 * k + 2], "a node's two edges read distinct inputs"
        design.set_candidate(_derived_like(space, seed))
        np.testing.assert_array_equal(design.derive(), _derived_like(space, seed))


def test_hdx_rule_reduces_the_violation_on_a_synthetic_quadratic() -> None:
    """Loss pulls theta to a (infeasible); constraint |theta - b|^2 <= r^2. An SGD step on the HDX gradient
    reduces the violation from every infeasible start, while the plain loss gradient increases it."""
    rng = np.random.default_rng(0)
    a, b, r, lr = torch.full((5,), 3.0, dtype=torch.float64), torch.zeros(5, dtype=torch.float64), 1.0, 0.05

    def violation(theta: torch.Tensor) -> torch.Tensor:
        return torch.relu((theta - b).pow(2).sum() - r**2)

    for _ in range(20):
        theta = torch.tensor(rng.normal(1.5, 1.0, 5), dtype=torch.float64, requires_grad=True)
        if violation(theta) <= 0:
            continue
        g_loss = torch.autograd.grad((theta - a).pow(2).sum(), theta)[0]
        g_vio = torch.autograd.grad(violation(theta), theta)[0]
        before = float(violation(theta).detach())
        with torch.no_grad():
            plain = float(violation(theta - lr * g_loss))
            step = hdx_gradient(g_loss, g_vio, margin=0.5)
            after = float(violation(theta - lr * step))
        assert (step * g_vio).sum() >= 0.5 * g_vio.pow(2).sum() - 1e-9
        assert after < before, (before, after)
        assert plain > after
    # already aligned with the constraint: the gradient is left as it is
    g = torch.tensor([2.0, 0.0])
    assert torch.equal(hdx_gradient(g, torch.tensor([1.0, 0.0]), margin=0.5), g)


def test_hdx_step_of_the_module_reduces_the_predicted_violation(space, net, cost) -> None:
    """With hard constraints far below the predicted cost, one SGD step on the logits lowers the violation of the
    relaxed design (the surrogate whose gradient the straight-through cost carries)."""
    for sgd_lr in (0.05, 0.5):
        module = _module(space, net, cost, Constraints(1e-3, 1e-3, hard=True), arch_optimizer="sgd", arch_lr=sgd_lr)
        relaxed_violation = lambda module=module: float(module.violation(cost(module.design.relaxed_encoding())))  # noqa: E731
        with torch.no_grad():
            before = relaxed_violation()
        stats = module.arch_gradients(torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,)), tau=1.0)
        assert stats["hdx_active"] == 1.0
        with torch.no_grad():
            for p in module.design.parameters():
                p -= sgd_lr * p.grad
            after = relaxed_violation()
        assert after < before


def test_config_group_builds_and_rejects_bad_values() -> None:
    setup = validate_config(compose_config("search", ["space=yoso", "strategy=differentiable", "constraints=soft"]))
    assert setup.strategy.name == "differentiable" and setup.strategy.settings.epochs >= 1
    assert setup.constraints.penalty > 0 and not setup.constraints.hard
    for override, key in (
        ("strategy.tau_min=0", "strategy.tau_min"),
        ("strategy.arch_optimizer=rmsprop", "strategy.arch_optimizer"),
        ("+strategy.bogus=1", "strategy.bogus"),
        ("strategy.cost_model.hidden=0", "strategy.cost_model.hidden"),
        ("+strategy.cost_model.depth=3", "strategy.cost_model.depth"),
        ("strategy.safety_margin=1.5", "strategy.safety_margin"),
        ("constraints=soft constraints.penalty=-1", "constraints.penalty"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate_config(compose_config("search", ["space=yoso", "strategy=differentiable", *override.split()]))


def test_temperature_schedule_anneals_from_tau_max_to_tau_min() -> None:
    settings = DifferentiableSettings(epochs=5, tau_max=4.0, tau_min=0.25)
    taus = [settings.tau(e) for e in range(5)]
    assert taus[0] == pytest.approx(4.0) and taus[-1] == pytest.approx(0.25)
    assert all(a > b for a, b in zip(taus, taus[1:]))


# --------------------------------------------------------------------------- end to end (search.py, smoke)


@pytest.fixture(scope="module")
def cache_dir(shared_cache: Path) -> Path:
    return shared_cache


def _command(run_dir: Path, cache: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "search.py"),
        "space=yoso",
        "strategy=differentiable",
        "experiment=smoke",
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={cache}",
        "search.standalone=false",
        *overrides,
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# Slow: the default suite runs the differentiable search end to end in the kill test below, and its hard constraints
# in-process (test_hard_constraints_lower_the_violation...); these add best.yaml's decoding and the logger's rows.
@pytest.mark.slow
@pytest.mark.parametrize("constraints", ["none", "hard"])
def test_search_py_differentiable_smoke_writes_history_and_best(
    tmp_path: Path, cache_dir: Path, constraints: str
) -> None:
    """``search.py strategy=differentiable experiment=smoke`` (and with constraints=hard): one exported candidate per
    epoch in history.csv with predicted and simulated cost, a best.yaml whose design decodes in the space, the
    per-epoch figures and the final ones in the run's logger."""
    from yoso.space.accelerator import Accelerator
    from yoso.space.genotype import Genotype

    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    epochs = 3 if constraints == "none" else 4
    proc = subprocess.run(
        _command(tmp_path, cache_dir, f"strategy.epochs={epochs}", f"constraints={constraints}", "logger=csv"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(tmp_path / "history.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(epochs))
    for row in rows:
        assert float(row["simulated_latency_ms"]) > 0 and float(row["latency_ms"]) > 0
        assert row["feasible"] in ("0", "1")
    saved = yaml.safe_load((tmp_path / "best.yaml").read_text())
    cfg = compose_config("search", ["space=yoso", f"paths.cache_dir={cache_dir}"])
    space = validate_config(cfg).space
    vector = space.encode(Genotype.from_dict(saved["genotype"]), Accelerator.from_dict(saved["accelerator"]))
    assert any(vector.tolist() == [int(r[name]) for name in space.names] for r in rows)
    (metrics,) = tmp_path.glob("csv/*/metrics.csv")  # the run's loggers get one row per epoch and the final figures
    logged = _rows(metrics)
    assert len([r for r in logged if r.get("search/reward")]) == epochs
    assert any(r.get("differentiable/tau") for r in logged) and any(r.get("final/reward") for r in logged)
    if constraints == "hard":
        energy, latency = validate_config(cfg).cost_model("simulator")(vector[None])
        assert saved["feasible"] and latency[0] <= saved["constraints"]["t_lat_ms"]
        assert energy[0] <= saved["constraints"]["t_eer_mj"]


@pytest.mark.slow  # ~55 s (it builds the space=yoso HyperNet); the engine's kill windows stay in the default suite
def test_sigkill_then_resume_keeps_every_epoch_once(tmp_path: Path, cache_dir: Path) -> None:
    """Killed after its second exported candidate, the same command resumes from the last epoch checkpoint."""
    epochs = 5
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    command = _command(tmp_path, cache_dir, f"strategy.epochs={epochs}")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = tmp_path / "history.csv"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and history.read_text().count("\n") > 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(_rows(history)) < epochs and not (tmp_path / "best.yaml").exists()
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming the differentiable search after epoch" in resumed.stdout + resumed.stderr
    assert [int(r["iteration"]) for r in _rows(history)] == list(range(epochs))
    assert (tmp_path / "best.yaml").exists()
