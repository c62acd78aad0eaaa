"""accelerator=naas (NAAS's space: PE rows and columns, connectivity, buffers, tiling loop order) through every
sampling strategy on the simulator's figures, hard constraints under the simulator, and ``python search.py``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REWARD, STRATEGIES, compose_config, make_loop, read_rows, run_entry, space_of

from yoso.app.run import validate_config
from yoso.hw import evaluate
from yoso.hw.layers import Deploy
from yoso.hw.tech import load_tech
from yoso.search.constraints import Constraints
from yoso.search.final import final_step
from yoso.search.history import History
from yoso.space import JointSpace

pytestmark = pytest.mark.usefixtures("single_thread")

#: The accelerator decisions of accelerator=naas, in encoding order.
NAAS_DECISIONS = ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes", "connectivity", "loop_order")


@pytest.fixture(scope="module")
def naas() -> JointSpace:
    return space_of(compose_config("search", ["accelerator=naas"]))


@pytest.fixture(scope="module")
def hard(naas: JointSpace) -> Constraints:
    """Thresholds at the 40th percentiles of the simulator's latency and energy over random designs: some meet both."""
    energy, latency = evaluate(naas.sample(60, 7), space=naas)
    return Constraints(float(np.quantile(latency, 0.4)), float(np.quantile(energy, 0.4)), hard=True)


def test_naas_space_round_trips_its_six_accelerator_decisions(naas: JointSpace) -> None:
    assert naas.names[naas.num_dnn_decisions :] == tuple(f"accel.{d}" for d in NAAS_DECISIONS)
    for vector in naas.sample(20, 1):
        genotype, acc = naas.decode(vector)
        assert np.array_equal(naas.encode(genotype, acc), vector)
        assert str(acc).endswith(f"/{acc.dataflow}/{acc.loop_order}")  # e.g. .../PQ-K/KCP or .../RS/KCP
        assert "-" in acc.dataflow or acc.dataflow in ("RS", "OS")  # a connectivity, or a named point of the list


def test_hypernet_keeps_an_accelerator_group_with_a_null_list_and_limits() -> None:
    """The HyperNet's hyperparameters hold the accelerator group as given: rows and columns instead of the paper's
    PE arrays (``pe_arrays: null``) and the ranges that allow 40 columns."""
    cfg = compose_config(
        "search",
        [
            "accelerator.pe_arrays=null",
            "+accelerator.pe_rows=[8,12]",
            "+accelerator.pe_cols=[8,40]",
            "+accelerator.limits.pe_cols=[8,40]",
        ],
    )
    accelerators = validate_config(cfg).space.accelerators
    module = validate_config(cfg).supernet_module()
    assert module.space.accelerators == accelerators and accelerators.options("pe_cols") == (8, 40)


@pytest.mark.parametrize("kind", STRATEGIES)
def test_every_strategy_searches_naas_and_hard_constraints_hold_under_the_simulator(
    naas: JointSpace, hard: Constraints, tmp_path: Path, kind: str
) -> None:
    def simulator(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return evaluate(np.atleast_2d(vectors), space=naas)

    history = make_loop(kind, naas, tmp_path, 12, constraints=hard, hardware=simulator).run()
    rows = read_rows(tmp_path / "history.csv")
    assert len(rows) == 12 and all(f"accel.{d}" in rows[0] for d in NAAS_DECISIONS)
    assert [r["accelerator"] for r in rows] == [str(naas.decode(v)[1]) for v in history.vectors]
    np.testing.assert_array_equal(History.open(tmp_path / "history.csv", naas).vectors, history.vectors)
    assert len(set(history.vectors[:, -2])) > 1  # the strategy samples the connectivity decision
    energy, latency = simulator(history.vectors)
    np.testing.assert_array_equal(history.feasible, hard.feasible(latency, energy))
    top, chosen = final_step(history, REWARD, 3, simulator, None, constraints=hard)
    if not history.feasible.any():
        assert chosen is None and top == []
    else:
        assert chosen is not None and all(row["feasible"] for row in top)
        energy, latency = simulator(history.vectors[[row["iteration"] for row in top]])
        assert hard.feasible(latency, energy).all()


@pytest.mark.parametrize("kind", [k if k == "random" else pytest.param(k, marks=pytest.mark.slow) for k in STRATEGIES])
def test_search_entry_with_naas_and_hard_constraints(tmp_path: Path, shared_cache: Path, kind: str) -> None:
    """``python search.py accelerator=naas experiment=smoke constraints=hard``: best.yaml's design meets the
    thresholds under the simulator (every sample re-simulated here); no best.yaml when no sample does."""
    overrides = [
        "experiment=smoke",
        "accelerator=naas",
        "constraints=hard",
        "constraints.t_lat_ms=2.0",
        "cost_model=simulator",
        f"strategy={kind}",
        f"paths.cache_dir={shared_cache}",
    ]
    result = run_entry("search.py", tmp_path, *overrides)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cfg = compose_config("search", ["accelerator=naas"])
    space = space_of(cfg)
    with open(tmp_path / "history.csv", newline="") as handle:
        vectors = np.array([[int(row[name]) for name in space.names] for row in csv.DictReader(handle)])
    deploy = Deploy.from_config(cfg.hw.deploy)
    energy, latency = evaluate(vectors, space=space, tech=load_tech(cfg.hw.tech), deploy=deploy)
    feasible = (latency <= 2.0) & (energy <= cfg.reward.t_eer_mj)
    if not feasible.any():
        assert not (tmp_path / "best.yaml").exists() and "no sampled design meets" in result.stdout + result.stderr
        return
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert set(best["accelerator"]) == {"pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes", "dataflow", "loop_order"}
    i = best["iteration"]
    assert str(space.decode(vectors[i])[1]) == best["accelerator_str"] and feasible[i] and best["feasible"]
    assert (best["energy_mj"], best["latency_ms"]) == pytest.approx((energy[i], latency[i]))
