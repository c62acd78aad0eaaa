"""The search loop with a cheap fake evaluator: evaluator, history file, determinism, resume and logging."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import REWARD, STRATEGIES, Rows, compose_config, fake_accuracy, fake_hardware, make_loop, plain, read_rows

from yoso.search.engine import Experiment
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.history import METRICS, History
from yoso.search.strategy import Evaluation, build_strategy
from yoso.space.genotype import Genotype

pytestmark = pytest.mark.usefixtures("single_thread")


def hand_reward(accuracy: Any, latency_ms: Any, energy_mj: Any) -> np.ndarray:
    """Eq. 2 for REWARD, written out."""
    with np.errstate(all="ignore"):
        return (
            np.asarray(accuracy)
            + 0.5 * (np.asarray(latency_ms) / 1.2) ** -0.4
            + 0.5 * (np.asarray(energy_mj) / 9.0) ** -0.4
        )


def iterations(rows: Rows) -> list[int]:
    return [int(row["iteration"]) for row in rows]


@pytest.fixture(scope="module")
def reference(space, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Rows]:
    """The history of an uninterrupted 30-iteration run (seed 0, 3 samples per step) of each strategy, run once."""
    cache: dict[str, Rows] = {}

    def get(kind: str) -> Rows:
        if kind not in cache:
            run_dir = tmp_path_factory.mktemp(f"reference-{kind}")
            make_loop(kind, space, run_dir, 30).run()
            cache[kind] = read_rows(run_dir / "history.csv")
        return cache[kind]

    return get


# ----------------------------------------------------------------- evaluator


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("accuracy", np.nan),
        ("accuracy", np.inf),
        ("energy", 0.0),
        ("energy", np.nan),
        ("latency", -1.0),
        ("latency", np.nan),
        ("energy", np.inf),
        ("latency", np.inf),
    ],
)
def test_evaluator_floors_invalid_rows(space, field: str, bad: float) -> None:
    figures = {
        "accuracy": np.array([0.5, 0.6, 0.7]),
        "energy": np.array([4.0, 8.0, 12.0]),
        "latency": np.array([0.5, 1.0, 2.0]),
    }
    figures[field][1] = bad
    evaluator = CandidateEvaluator(
        lambda v: figures["accuracy"], lambda v: (figures["energy"], figures["latency"]), REWARD
    )
    results = evaluator(space.sample(3, 0))
    assert isinstance(results, Evaluation) and len(results) == 3
    assert results.reward[1] == evaluator.reward_floor == 0.0
    assert not results.feasible[1]
    expected = hand_reward(figures["accuracy"], figures["latency"], figures["energy"])
    np.testing.assert_allclose(results.reward[[0, 2]], expected[[0, 2]], rtol=1e-12)
    # The figures themselves pass through untouched (the history records what was measured).
    np.testing.assert_array_equal(results.accuracy, figures["accuracy"])
    np.testing.assert_array_equal(results.energy_mj, figures["energy"])
    np.testing.assert_array_equal(results.latency_ms, figures["latency"])


def test_evaluator_matches_reward_formula(space) -> None:
    vectors = space.sample(20, 1)
    results = CandidateEvaluator(fake_accuracy, fake_hardware, REWARD)(vectors)
    energy, latency = fake_hardware(vectors)
    np.testing.assert_allclose(results.reward, hand_reward(fake_accuracy(vectors), latency, energy), rtol=1e-12)
    assert np.all(results.reward > 0)
    np.testing.assert_array_equal(results.feasible, (latency <= REWARD.t_lat_ms) & (energy <= REWARD.t_eer_mj))


# ----------------------------------------------------------------- history


def filled_history(space, path: Path) -> tuple[History, np.ndarray, dict[str, np.ndarray]]:
    """A history of two appended steps (3 + 2 rows) with awkward float figures."""
    rng = np.random.default_rng(0)
    vectors = space.sample(5, rng)
    figures = {name: rng.random(5) * 10.0 ** rng.integers(-3, 3, 5) for name in METRICS}
    history = History(space, path)
    results = Evaluation(*(figures[name] for name in METRICS), feasible=np.array([True, False, True, True, False]))
    history.append(vectors[:3], results[:3], step=1, wall_time_s=0.25)
    history.append(vectors[3:], results[3:], step=2, wall_time_s=1.23456)
    return history, vectors, figures


def test_history_round_trip(space, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    history, vectors, figures = filled_history(space, path)
    assert len(history) == 5

    rows = read_rows(path, wall_time=True)
    header = list(rows[0])
    assert header == [
        "iteration",
        "step",
        *space.names,
        "genotype",
        "accelerator",
        "accuracy",
        "energy_mj",
        "latency_ms",
        "reward",
        "feasible",
        "val_images",
        "wall_time_s",
    ]
    assert [row["feasible"] for row in rows] == ["1", "0", "1", "1", "0"]
    assert len(space.names) == len(space)
    assert iterations(rows) == [0, 1, 2, 3, 4]
    for row, vec in zip(rows, vectors):
        genotype, accelerator = space.decode(vec)
        assert isinstance(json.loads(row["genotype"]), dict)
        assert Genotype.from_json(row["genotype"]).to_dict() == genotype.to_dict()
        assert row["accelerator"] == str(accelerator)

    reopened = History.open(path, space)
    np.testing.assert_array_equal(reopened.vectors, vectors)
    assert reopened.vectors.dtype == np.int64
    np.testing.assert_array_equal(reopened.steps, [1, 1, 1, 2, 2])
    for name in METRICS:
        np.testing.assert_array_equal(reopened.figures[name], figures[name])  # exact: repr round-trips floats
    np.testing.assert_allclose(reopened.wall_time_s, [0.25, 0.25, 0.25, 1.235, 1.235])
    np.testing.assert_array_equal(reopened.evaluation().reward, history.reward)
    np.testing.assert_array_equal(reopened.evaluation().feasible, [True, False, True, True, False])


def test_history_from_state_rewrites_the_file(space, tmp_path: Path) -> None:
    """A history restored from checkpointed rows replaces the file: rows beyond them go, kept rows are unchanged."""
    path = tmp_path / "history.csv"
    _, vectors, figures = filled_history(space, path)
    written = read_rows(path)
    first_step = History(space)
    first_step.append(
        vectors[:3],
        Evaluation(*(figures[name][:3] for name in METRICS), feasible=np.array([True, False, True])),
        step=1,
        wall_time_s=0.25,
    )
    kept = History.from_state(space, first_step.state_dict(), path)
    np.testing.assert_array_equal(kept.vectors, vectors[:3])
    assert kept.vectors.dtype == np.int64
    assert read_rows(path) == written[:3]  # cut on disk, not only in memory
    # Appending goes on from the kept rows.
    kept.append(vectors[4:], Evaluation(*(np.ones(1),) * 4), step=9, wall_time_s=2.0)
    assert iterations(read_rows(path)) == [0, 1, 2, 3]
    assert read_rows(path)[-1]["feasible"] == ""  # not judged
    assert np.isnan(History.open(path, space).feasible[-1])
    assert History.open(tmp_path / "missing.csv", space).vectors.shape == (0, len(space))
    History.from_state(space, History(space).state_dict(), path)
    assert path.read_text() == ",".join(History(space).columns) + "\n"  # no rows: the header alone


def test_history_without_the_feasible_column_is_upgraded(space, tmp_path: Path) -> None:
    """A history.csv written before the feasible column existed still resumes (feasible: not judged)."""
    path = tmp_path / "history.csv"
    _, vectors, _ = filled_history(space, path)
    at = History(space).columns.index("feasible")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(cells[:at] + cells[at + 1 :] for cells in rows)  # the old layout
    reopened = History.open(path, space)
    np.testing.assert_array_equal(reopened.vectors, vectors)
    assert np.isnan(reopened.feasible).all()
    assert list(read_rows(path)[0]) == History(space).columns[:-1]  # rewritten with the new header


def _cut(line: str, where: str) -> str:
    """A prefix of one CSV line, as a kill in the middle of writing it would leave."""
    return {
        "half": line[: len(line) // 2],
        "in_decisions": line[:40],
        "in_genotype": line[: line.index("[[") + 5],
        "in_last_field": line[:-2],
    }[where]


@pytest.mark.parametrize(
    "where",
    [
        "half",
        "in_decisions",
        "in_genotype",
        "in_last_field",
    ],
)
def test_history_drops_a_partial_trailing_line(space, tmp_path: Path, where: str) -> None:
    path = tmp_path / "history.csv"
    _, vectors, _ = filled_history(space, path)
    last = path.read_text().splitlines()[-1]
    with path.open("a", newline="") as handle:
        handle.write(_cut(last, where))
    reopened = History.open(path, space)
    assert len(reopened) == 5
    np.testing.assert_array_equal(reopened.vectors, vectors)
    assert path.read_text().endswith("\n") and len(read_rows(path)) == 5  # the cut line is gone from disk


# ----------------------------------------------------------------- the loop


@pytest.mark.parametrize(
    ("kind", "samples_per_step"),
    [(k, 3) for k in STRATEGIES]
    + [(k, 1) if k == "random" else pytest.param(k, 1, marks=pytest.mark.slow) for k in STRATEGIES],
)
def test_loop_writes_every_iteration_once(space, tmp_path: Path, kind: str, samples_per_step: int) -> None:
    loop = make_loop(kind, space, tmp_path, 31, samples_per_step=samples_per_step)
    history = loop.run()
    rows = read_rows(tmp_path / "history.csv")
    assert len(history) == len(rows) == 31
    assert iterations(rows) == list(range(31))
    # Steps count from 1; with 3 per step the last step holds the single leftover candidate.
    expected_steps = np.arange(31) // samples_per_step + 1
    np.testing.assert_array_equal([int(r["step"]) for r in rows], expected_steps)
    np.testing.assert_array_equal(history.steps, expected_steps)
    assert loop.step == expected_steps[-1]
    np.testing.assert_array_equal(History.open(tmp_path / "history.csv", space).vectors, history.vectors)
    np.testing.assert_allclose(
        history.reward, hand_reward(*((history.accuracy, history.latency_ms, history.energy_mj)))
    )
    assert (tmp_path / "search.ckpt").exists()
    if kind == "reinforce":
        assert int(loop.strategy.module.updates) == expected_steps[-1]  # one REINFORCE step per loop step


def test_loop_without_run_dir_keeps_history_in_memory(space) -> None:
    history = make_loop("random", space, None, 7).run()
    assert len(history) == 7 and history.path is None


@pytest.mark.parametrize("kind", STRATEGIES)
def test_loop_same_seed_same_history(space, tmp_path: Path, kind: str, reference: Callable[[str], Rows]) -> None:
    make_loop(kind, space, tmp_path / "same", 30).run()
    assert read_rows(tmp_path / "same" / "history.csv") == reference(kind)
    make_loop(kind, space, tmp_path / "other", 30, seed=1).run()
    other = read_rows(tmp_path / "other" / "history.csv")
    assert [r["genotype"] for r in other] != [r["genotype"] for r in reference(kind)]


def _drop_rows(path: Path, n: int) -> list[str]:
    """Remove the last ``n`` rows of a CSV file; returns the removed lines."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-n]))
    return lines[-n:]


def _crash(run_dir: Path, window: str) -> int:
    """Leave ``run_dir`` as a kill in ``window`` would; returns the rows the resumed engine must start from."""
    path = run_dir / "history.csv"
    if window == "missing_last_step":  # checkpoint written, the step's rows not appended
        _drop_rows(path, 3)
    elif window == "partial_last_step":  # killed while appending the step's first row
        removed = _drop_rows(path, 3)
        path.write_text(path.read_text() + removed[0][: len(removed[0]) // 2])
    elif window == "extra_rows":  # rows the checkpoint does not vouch for
        lines = path.read_text().splitlines(keepends=True)
        fake = [f"{12 + i}{line[line.index(',') :]}" for i, line in enumerate(lines[-2:])]
        path.write_text("".join(lines + fake))
    elif window == "history_lost":  # an output only: the checkpoint's rows rebuild it
        path.unlink()
    elif window == "no_checkpoint":  # killed before the first checkpoint: start again
        (run_dir / "search.ckpt").unlink()
        return 0
    return 12


#: Where a kill can leave a run directory. The windows are the engine's; each strategy's own state is exercised by
#: "clean" and "no_checkpoint", so the default suite runs every window for random and those two for the others.
WINDOWS = ("clean", "missing_last_step", "partial_last_step", "extra_rows", "history_lost", "no_checkpoint")


@pytest.mark.parametrize(
    ("window", "kind"),
    [
        (w, k) if k == "random" or w in ("clean", "no_checkpoint") else pytest.param(w, k, marks=pytest.mark.slow)
        for k in STRATEGIES
        for w in WINDOWS
    ],
)
def test_loop_resume_equals_uninterrupted_run(
    space, tmp_path: Path, kind: str, window: str, reference: Callable[[str], Rows]
) -> None:
    make_loop(kind, space, tmp_path, 12).run()
    done = _crash(tmp_path, window)
    loop = make_loop(kind, space, tmp_path, 30)
    # Construction alone restores the history to what the checkpoint vouches for, on disk too.
    assert len(loop.history) == done
    assert iterations(read_rows(tmp_path / "history.csv")) == list(range(done))
    assert loop.step == done // 3
    loop.run()
    rows = read_rows(tmp_path / "history.csv")
    assert iterations(rows) == list(range(30))
    assert rows == reference(kind)


def test_loop_rejects_another_fingerprint(space, tmp_path: Path) -> None:
    make_loop("random", space, tmp_path, 3, fingerprint={"seed": 0, "reward": "energy", "iterations": 3}).run()
    with pytest.raises(ValueError, match="reward") as err:
        make_loop("random", space, tmp_path, 3, fingerprint={"seed": 0, "reward": "latency", "iterations": 3})
    assert "seed" not in str(err.value)
    with pytest.raises(ValueError, match="lr"):
        make_loop("random", space, tmp_path, 3, fingerprint={"seed": 0, "reward": "energy", "iterations": 3, "lr": 1})
    assert len(read_rows(tmp_path / "history.csv")) == 3  # a refused resume leaves the run dir alone


class FakeLogger:
    """Records ``log_metrics`` calls like a Lightning logger."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append((step, dict(metrics)))


@pytest.mark.parametrize("kind", STRATEGIES)
def test_loop_logs_every_iteration(space, kind: str) -> None:
    logger = FakeLogger()
    history = make_loop(kind, space, None, 7, loggers=[logger]).run()
    assert [step for step, _ in logger.calls] == list(range(7))
    search_keys = {f"search/{k}" for k in ("reward", "accuracy", "energy_mj", "latency_ms", "best_reward")}
    for _, metrics in logger.calls:
        if kind == "random":
            assert set(metrics) == search_keys
        elif kind == "reinforce":
            assert set(metrics) >= search_keys | {"controller/entropy", "controller/baseline"}
            assert metrics["controller/entropy"] > 0
        assert set(metrics) >= search_keys
        assert all(isinstance(v, float) for v in metrics.values())
    logged = {key: np.array([m[key] for _, m in logger.calls]) for key in logger.calls[0][1]}
    np.testing.assert_array_equal(logged["search/reward"], history.reward)
    np.testing.assert_array_equal(logged["search/energy_mj"], history.energy_mj)
    np.testing.assert_array_equal(logged["search/best_reward"], np.maximum.accumulate(history.reward))
    assert np.all(np.diff(logged["search/best_reward"]) >= 0)


def fake_race(v: np.ndarray, needed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A race on 100 of 1000 'images': the first look is the whole accuracy shifted by a per-vector offset."""
    from yoso.stats import wilson_interval

    whole = fake_accuracy(v)
    first = np.clip(whole + 0.05 * np.sin(v.sum(1)), 0.0, 1.0)
    stops = wilson_interval(first, 100)[1] < needed
    return np.where(stops, first, whole), np.where(stops, 100, 1000)


def racing_loop(space, run_dir: Path, iterations: int) -> Experiment:
    strategy = build_strategy(plain(compose_config("search", ["strategy=random"]).strategy), space, 0, None)
    evaluator = CandidateEvaluator(fake_accuracy, fake_hardware, REWARD, race=fake_race, race_top=5)
    return Experiment(strategy, evaluator, iterations, run_dir, progress=False)


def test_racing_keeps_the_top_whole_and_resumes_exactly(space, tmp_path: Path) -> None:
    """With racing, the history's top race_top rewards are whole-split accuracies, early rows are all whole, the
    val_images column says which is which, and a killed run resumed gives the uninterrupted history."""
    history = racing_loop(space, tmp_path / "a", 60).run()
    assert set(history.val_images[:5]) == {1000}  # fewer than race_top rewards so far: everything is finished
    top = np.argsort(history.reward)[-5:]
    assert set(history.val_images[top]) == {1000}
    assert 0 < int((history.val_images == 100).sum()) < 55
    rows = read_rows(tmp_path / "a" / "history.csv")
    assert {row["val_images"] for row in rows} == {"100", "1000"}
    racing_loop(space, tmp_path / "b", 21).run()
    _drop_rows(tmp_path / "b" / "history.csv", 1)  # killed between the checkpoint and the history
    racing_loop(space, tmp_path / "b", 60).run()
    assert read_rows(tmp_path / "b" / "history.csv") == rows


def test_a_checkpoint_on_a_clock_loses_only_the_uncommitted_steps(
    space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Callable[[str], Rows]
) -> None:
    """``checkpoint_every_s``: the engine commits when that much time has passed (here: on a fake clock, every
    fourth step) and after the last step; a kill in between costs the steps since the last commit, which the
    rerun redoes identically."""
    import yoso.search.engine as engine

    clock = iter(range(10_000))
    monkeypatch.setattr(engine.time, "perf_counter", lambda: float(next(clock)))  # one tick per reading
    loop = make_loop("random", space, tmp_path, 30, checkpoint_every_s=12)
    evaluator = loop.evaluator
    calls = {"n": 0}

    def crash_on_the_sixth_step(vectors: np.ndarray, rewards: np.ndarray) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # the kill, after five steps (15 rows) in history.csv
        return evaluator(vectors, rewards)

    loop.evaluator = crash_on_the_sixth_step  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert len(read_rows(tmp_path / "history.csv")) == 15
    committed = torch.load(tmp_path / "search.ckpt", weights_only=True)["engine"]["step"]
    assert 0 < committed < 5  # fewer steps than were run: the clock let only some commits through
    resumed = make_loop("random", space, tmp_path, 30, checkpoint_every_s=12)
    assert resumed.step == committed and len(resumed.history) == 3 * committed
    resumed.run()
    assert read_rows(tmp_path / "history.csv") == reference("random")
    assert torch.load(tmp_path / "search.ckpt", weights_only=True)["engine"]["step"] == 10  # the last step commits
