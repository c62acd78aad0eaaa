"""The search engine's one checkpoint: its layout, unreadable files, RNG state and a one-shot strategy's resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from helpers import STRATEGIES, make_loop, read_rows
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from yoso.config import InputError
from yoso.search.engine import (
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    HISTORY_NAME,
    LEGACY_CHECKPOINT,
    Experiment,
    plain_state,
)
from yoso.search.strategy import Evaluation, OneShotStrategy

pytestmark = pytest.mark.usefixtures("single_thread")


def test_checkpoint_holds_rows_rng_fingerprint_and_strategy_state(space, tmp_path: Path) -> None:
    fingerprint = {"seed": 0, "reward": "energy"}
    experiment = make_loop("random", space, tmp_path, 7, fingerprint=fingerprint)
    history = experiment.run()
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert set(state) == {"engine", "strategy"}
    engine = state["engine"]
    assert set(engine) == {"version", "fingerprint", "step", "elapsed_s", "strategy_s", "rows", "rng", "final"}
    assert engine["final"] == {}  # the final step's progress: none yet
    assert engine["version"] == CHECKPOINT_VERSION and engine["fingerprint"] == fingerprint
    assert engine["step"] == experiment.step == 3  # 3 + 3 + 1 candidates
    np.testing.assert_array_equal(engine["rows"]["vectors"], history.vectors)
    np.testing.assert_array_equal(engine["rows"]["figures"]["reward"], history.reward)
    assert set(engine["rng"]) == {"python", "numpy", "torch"}
    assert state["strategy"].keys() == experiment.strategy.state_dict().keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == [HISTORY_NAME, CHECKPOINT_NAME]


def test_resume_restores_the_global_rng_state(space, tmp_path: Path) -> None:
    make_loop("random", space, tmp_path, 6).run()
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["engine"]["rng"]
    torch.manual_seed(123)
    np.random.seed(123)
    make_loop("random", space, tmp_path, 9)
    assert torch.equal(torch.get_rng_state(), saved["torch"])
    assert np.random.get_state()[1].tolist() == saved["numpy"]["state"]["key"].tolist()


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x17not a checkpoint\xff" * 10)


def _foreign(path: Path) -> None:
    torch.save({"state_dict": {}}, path)  # a torch file, not a search checkpoint


def _other_version(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["engine"]["version"] = CHECKPOINT_VERSION + 1
    torch.save(state, path)


def _pickled_object(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["strategy"]["rng"] = np.random.default_rng(0)  # a library object, as yoso's checkpoints held before version 3
    torch.save(state, path)


@pytest.mark.parametrize(
    "damage",
    [_zero_bytes, _truncated, _garbage, _foreign, _other_version, _pickled_object],
    ids=["zero_bytes", "truncated", "garbage", "foreign", "other_version", "pickled_object"],
)
def test_unreadable_checkpoint_stops_with_one_line(space, tmp_path: Path, damage: Any) -> None:
    """An InputError (search.py: exit status 2) naming the file and what to do, not a traceback from torch."""
    make_loop("random", space, tmp_path, 4).run()
    path = tmp_path / CHECKPOINT_NAME
    damage(path)
    with pytest.raises(InputError) as err:
        make_loop("random", space, tmp_path, 8)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "delete it" in message and "\n" not in message


@pytest.mark.parametrize("kind", STRATEGIES)
def test_every_strategys_checkpoint_opens_with_the_safe_loader(space, tmp_path: Path, kind: str) -> None:
    """Plain data only: torch's weights-only loader (which runs no code) opens it, and it resumes the search."""
    make_loop(kind, space, tmp_path, 6).run()
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert state["engine"]["step"] == 2 and len(state["engine"]["rows"]["vectors"]) == 6
    assert len(make_loop(kind, space, tmp_path, 9).history) == 6


def test_plain_state_turns_arrays_into_tensors_and_names_a_library_object() -> None:
    state = plain_state({"rows": np.arange(3, dtype=np.int16), "best": np.float64(0.5), "pair": (1, "a")})
    assert torch.equal(state["rows"], torch.arange(3, dtype=torch.int16)) and state["best"] == 0.5
    assert state["pair"] == (1, "a")
    with pytest.raises(TypeError, match=r"^state\.strategy\.rng: numpy\.random\._generator\.Generator is not plain"):
        plain_state({"strategy": {"rng": np.random.default_rng(0)}})


def test_a_run_directory_of_the_older_search_loop_is_neither_resumed_nor_overwritten(space, tmp_path: Path) -> None:
    """A run dir with the pre-engine ``search_state.pt`` and its history: one line, and the history file is kept."""
    (tmp_path / LEGACY_CHECKPOINT).write_bytes(b"old")
    (tmp_path / HISTORY_NAME).write_text("iteration,step\n0,1\n")
    with pytest.raises(InputError) as err:
        make_loop("random", space, tmp_path, 4)
    assert "older yoso" in str(err.value) and "\n" not in str(err.value)
    assert (tmp_path / HISTORY_NAME).read_text() == "iteration,step\n0,1\n"


# ----------------------------------------------------------------- a one-shot strategy


class _Crash(pl.callbacks.Checkpoint):
    """Stops training at the end of ``epoch`` (a Checkpoint: it runs beside the engine's commit, in list order)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("killed")


class _DriftModule(pl.LightningModule):
    """One weight trained by SGD with momentum; exports a candidate per epoch whose 'accuracy' is the weight."""

    def __init__(self, experiment: Experiment):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.experiment = experiment

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return ((self.weight - batch[0]) ** 2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    def on_train_epoch_end(self) -> None:
        history = self.experiment.history
        vector = self.experiment.strategy.space.sample(1, self.current_epoch)
        ones = np.ones(1)
        history.append(
            vector,
            Evaluation(np.array([float(self.weight.detach())]), ones, ones, ones),
            len(history) + 1,
            self.experiment.elapsed(),
        )


class _DriftStrategy(OneShotStrategy):
    """A one-shot strategy in miniature: a Lightning fit of ``epochs`` epochs under the engine."""

    name = "drift"

    def __init__(self, space: Any, epochs: int, crash: tuple[int, bool] | None = None):
        super().__init__(space, 0)
        self.epochs, self.crash = epochs, crash

    @property
    def exports(self) -> int:
        return self.epochs

    def search(self, experiment: Experiment) -> None:
        callbacks = [experiment.commit_callback()]
        if self.crash is not None:
            epoch, before_commit = self.crash
            callbacks.insert(0 if before_commit else 1, _Crash(epoch))
        trainer = pl.Trainer(
            max_epochs=self.epochs,
            callbacks=callbacks,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=experiment.run_dir,
            accelerator="cpu",
        )
        data = DataLoader(TensorDataset(torch.linspace(0.0, 2.0, 8)), batch_size=2)
        trainer.fit(_DriftModule(experiment), data, ckpt_path=experiment.resume_path, weights_only=False)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Any) -> None:
        pass


@pytest.mark.parametrize("before_commit", [False, True], ids=["after_commit", "before_commit"])
def test_one_shot_resume_equals_the_uninterrupted_run(space, tmp_path: Path, before_commit: bool) -> None:
    """Killed at the end of epoch 2 (after or before its commit), the same experiment resumes from the one
    checkpoint: module and optimiser state from Lightning's keys, rows from the engine's, every epoch once."""
    Experiment(_DriftStrategy(space, 5), None, 0, tmp_path / "reference", progress=False).run()
    reference = read_rows(tmp_path / "reference" / HISTORY_NAME)
    run_dir = tmp_path / "killed"
    with pytest.raises(RuntimeError, match="killed"):
        Experiment(_DriftStrategy(space, 5, crash=(2, before_commit)), None, 0, run_dir, progress=False).run()
    assert len(read_rows(run_dir / HISTORY_NAME)) == 3  # the third epoch's row was written either way
    resumed = Experiment(_DriftStrategy(space, 5), None, 0, run_dir, progress=False)
    assert len(resumed.history) == (2 if before_commit else 3) == len(read_rows(run_dir / HISTORY_NAME))
    resumed.run()
    assert read_rows(run_dir / HISTORY_NAME) == reference
    assert sorted(p.name for p in run_dir.iterdir() if p.is_file()) == [HISTORY_NAME, CHECKPOINT_NAME]
