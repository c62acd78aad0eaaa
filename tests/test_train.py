"""train.py: HyperNet and stand-alone training, checkpoints and resume (fast smoke runs; slow full runs)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from helpers import ROOT, compose_config, supernet_of

from yoso.app.cli import CONFIG_ERROR_EXIT

torch.set_num_threads(1)


def _entry():
    spec = importlib.util.spec_from_file_location("yoso_train_entry", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_train(tmp_path: Path, *overrides: str) -> dict[str, float]:
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}", *overrides])
    return _entry().train(cfg)


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_supernet_smoke_run_logs_sampled_path_accuracy_and_checkpoints(tmp_path: Path) -> None:
    metrics = run_train(tmp_path)
    assert 0.0 <= metrics["val/acc_mean"] <= 1.0 and metrics["val/acc_min"] <= metrics["val/acc_max"]
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = _ckpt(last)
    assert ckpt["global_step"] == 2 and ckpt["hyper_parameters"]["channels"] == 8

    from yoso.nn import SupernetModule

    module = SupernetModule.load_from_checkpoint(last)
    assert module.hparams.seed == 0 and len(module.val_genotypes) == 2


def test_resume_continues_from_the_last_checkpoint(tmp_path: Path) -> None:
    run_train(tmp_path / "a", "model.epochs=1")
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    first = _ckpt(last)
    assert (first["epoch"], first["global_step"]) == (0, 2)
    run_train(tmp_path / "b", "model.epochs=2", f"ckpt_path={last}")
    resumed = _ckpt(tmp_path / "b" / "checkpoints" / "last.ckpt")
    assert (resumed["epoch"], resumed["global_step"]) == (1, 4)
    # the optimiser state came along (momentum buffers exist for the first run's path)
    assert resumed["optimizer_states"][0]["state"]


def test_model_yaml_targets_build_the_modules() -> None:
    """conf/model names its modules by ``_target_``: Hydra builds them from the node's arguments (not its schedule
    keys) and the other groups' data shape, space, accelerator, seed; the modules' own errors pass through."""
    from yoso.config import ConfigError
    from yoso.nn import ChildModule, SupernetModule
    from yoso.space import known_genotype

    cfg = compose_config("train", ["space=yoso", "model.channels=4", "model.standalone.channels=4"])
    assert cfg.model._target_ == "yoso.nn.modules.SupernetModule"
    assert cfg.model.standalone._target_ == "yoso.nn.modules.ChildModule"
    module = supernet_of(cfg)
    assert type(module) is SupernetModule
    assert module.hparams.channels == 4 and module.hparams.seed == cfg.seed and "epochs" not in module.hparams
    assert module.hparams.input_shape == list(cfg.data.input_shape)
    child = ChildModule.from_groups(cfg.model.standalone, cfg.data, cfg.space, known_genotype("DARTS_V2"))
    assert type(child) is ChildModule and child.genotype == known_genotype("DARTS_V2") and child.hparams.channels == 4
    with pytest.raises(ConfigError) as err:
        supernet_of(compose_config("train", ["space=yoso", "model.sandwich=true"]))
    assert err.value.key == "model.sandwich"


def test_wandb_logger_is_quiet_at_the_end_of_a_run(
    tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """logger=wandb (offline): the run is written, but W&B's end-of-run history and summary are not printed."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_train(tmp_path, "logger=wandb")
    output = "".join(capfd.readouterr())
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
    assert "Run data is saved locally" in output  # where the run is stays in the log
    assert "Run summary" not in output and "Run history" not in output


class _EpochRows(pl.LightningModule):
    """A tiny module that, like the one-shot search, records a row in its own epoch-end hook."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.rows = 0

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).sum()

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.layer(batch[0]).sum())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_epoch_end(self) -> None:
        self.rows = self.current_epoch + 1

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rows"] = self.rows


class _LastCheckpointProbe(pl.Callback):
    """What ``last.ckpt`` holds when each epoch starts and when training ends."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.seen = folder, []

    def _record(self) -> None:
        last = self.folder / "last.ckpt"
        ckpt = _ckpt(last) if last.is_file() else {}
        self.seen.append((sorted(p.name for p in self.folder.glob("*")), ckpt.get("epoch"), ckpt.get("rows")))

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._record()

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._record()


def test_model_checkpoint_yaml_writes_last_ckpt_after_every_epoch(tmp_path: Path) -> None:
    """conf/callbacks/model_checkpoint.yaml: one last.ckpt, rewritten after every epoch's own epoch-end hook, also
    with validation at the last epoch only; a resumed run rewrites the same file."""
    from hydra.utils import instantiate

    node = compose_config("train", [f"paths.output_dir={tmp_path}"]).callbacks.model_checkpoint
    folder = tmp_path / "checkpoints"
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=4)

    def fit(epochs: int, ckpt_path: Path | None = None) -> list:
        probe = _LastCheckpointProbe(folder)
        trainer = pl.Trainer(
            max_epochs=epochs,
            check_val_every_n_epoch=epochs,
            callbacks=[instantiate(node), probe],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=str(tmp_path),
        )
        trainer.fit(_EpochRows(), train_dataloaders=data, val_dataloaders=data, ckpt_path=ckpt_path)
        return probe.seen

    # after epoch e (0-based): last.ckpt holds epoch e and the row that epoch's hook added
    assert fit(3) == [([], None, None), *[(["last.ckpt"], e, e + 1) for e in range(3)]]
    assert fit(5, folder / "last.ckpt")[1:] == [(["last.ckpt"], e, e + 1) for e in (3, 4)]


def test_standalone_darts_v2_trains_and_reports_test_accuracy(tmp_path: Path) -> None:
    metrics = run_train(tmp_path, "mode=standalone", "genotype=DARTS_V2")
    assert 0.0 <= metrics["test/acc"] <= 1.0
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["genotype"]["normal_concat"] == [2, 3, 4, 5]


def test_standalone_reads_a_genotype_file(tmp_path: Path) -> None:
    from yoso.space import known_genotype

    path = tmp_path / "g.yaml"
    path.write_text(known_genotype("ENAS").to_yaml())
    metrics = run_train(tmp_path, "mode=standalone", f"genotype={path}", "test=false")
    assert "val/acc" in metrics and "test/acc" not in metrics


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["mode=standalone", "genotype=DARTS_V9"], "invalid config value genotype='DARTS_V9'"),
        (["mode=standalone", "genotype=/no/such/genotype.yaml"], "an existing genotype YAML/JSON file"),
        (["mode=oneshot"], "invalid config value mode='oneshot'"),
        (["data.batch_size=0"], "data.batch_size=0: allowed an integer >= 1"),
        (["data.val_fraction=1.2"], "data.val_fraction=1.2"),
        (["model.channels=0"], "model.channels=0: allowed an integer >= 1"),
        (["model.optimizer.lr=-1"], "model.optimizer.lr=-1"),
        (["model.dirac_init=-0.5"], "model.dirac_init=-0.5: allowed a finite number >= 0.0"),
    ],
)
def test_bad_values_stop_before_training(tmp_path: Path, caplog, overrides: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        run_train(tmp_path, *overrides)
    assert info.value.code == CONFIG_ERROR_EXIT
    assert message in caplog.text
    assert not (tmp_path / "checkpoints").exists()


def test_missing_cifar10_folder_fails_with_a_clear_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A missing data folder is bad input: one clear line and exit status 2, like a bad config value."""
    with pytest.raises(SystemExit) as info:
        run_train(tmp_path, "data=cifar10", f"data.root={tmp_path / 'nowhere'}", "data.num_workers=0")
    assert info.value.code == CONFIG_ERROR_EXIT
    assert re.search(r"CIFAR-10 folder .*nowhere does not exist: expected the python batches", caplog.text)


# --------------------------------------------------------------------------- slow: real processes


def _command(tmp_path: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={tmp_path}", *overrides]


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    """Kill train.py (SIGKILL) after its first checkpoint; re-running with ckpt_path finishes the run."""
    overrides = ["experiment=smoke", "logger=none", "model.epochs=30", "trainer.limit_train_batches=4"]
    proc = subprocess.Popen(
        _command(tmp_path / "a", *overrides),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if last.exists():
            time.sleep(1.0)  # let the write finish, then kill mid-run
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _ckpt(last)
    assert 0 < killed_at["global_step"] < 120
    result = subprocess.run(
        _command(tmp_path / "b", *overrides, f"ckpt_path={last}"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Restoring states from the checkpoint" in result.stdout + result.stderr
    final = _ckpt(tmp_path / "b" / "checkpoints" / "last.ckpt")
    assert final["global_step"] == 120 and final["epoch"] == 29


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path: Path) -> None:
    overrides = [
        "experiment=smoke",
        "logger=none",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "model.epochs=2",
    ]
    result = subprocess.run(
        _command(tmp_path, *overrides), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "distributed_backend=gloo" in output and "All distributed processes registered" in output
    ckpt = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 4 and "val/acc_mean" in output


@pytest.mark.slow
def test_default_run_meets_the_acceptance_targets(tmp_path: Path) -> None:
    """``python train.py`` on digits: <= 5 minutes and >= 90% mean sampled-path validation accuracy."""
    start = time.time()
    result = subprocess.run(
        _command(tmp_path, "logger=csv", "trainer.enable_progress_bar=false"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = time.time() - start
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(s for s in (result.stdout + result.stderr).splitlines() if "val/acc_mean =" in s)
    accuracy = float(line.rsplit("=", 1)[1])
    print(f"train.py: {elapsed:.0f} s, mean sampled-path val accuracy {accuracy:.4f}")
    assert elapsed <= 300 and accuracy >= 0.90


@pytest.mark.slow
def test_standalone_darts_v2_reaches_95_percent_test_accuracy(tmp_path: Path) -> None:
    start = time.time()
    result = subprocess.run(
        _command(tmp_path, "mode=standalone", "genotype=DARTS_V2", "logger=csv", "trainer.enable_progress_bar=false"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(s for s in (result.stdout + result.stderr).splitlines() if "test/acc =" in s)
    accuracy = float(line.rsplit("=", 1)[1])
    print(f"stand-alone DARTS_V2: {time.time() - start:.0f} s, test accuracy {accuracy:.4f}")
    assert accuracy >= 0.95
