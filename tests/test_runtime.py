"""Process settings of the entry points: num_threads from config, no library noise, no model summary."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import CONF, ROOT, compose_config
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from yoso.app.cli import CONFIG_ERROR_EXIT, instantiate_group, quiet_libraries, set_num_threads
from yoso.app.run import validate_config


@pytest.mark.parametrize("name", ["search", "train", "two_stage"])
def test_num_threads_is_one_shared_top_level_default(name: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name=name)
    assert cfg.num_threads == 1
    assert compose_config(name, ["num_threads=null"]).num_threads is None


@pytest.mark.parametrize("value", [1, 3, None])
def test_valid_num_threads(value) -> None:
    validate_config(compose_config("search", [f"num_threads={'null' if value is None else value}"]))


def test_set_num_threads_applies_and_null_keeps_torchs_default() -> None:
    before = torch.get_num_threads()
    try:
        assert set_num_threads(None) is None and torch.get_num_threads() == before
        assert set_num_threads(2) == 2 and torch.get_num_threads() == 2
        set_num_threads(3)  # the inter-op count may be set once per process: a second call must not fail
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_two_stage_entry_rejects_bad_num_threads(tmp_path: Path) -> None:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "two_stage.py"), f"hydra.run.dir={tmp_path}", "num_threads=-1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == CONFIG_ERROR_EXIT, output
    assert "invalid config value num_threads=-1: allowed an integer >= 1" in output and "Traceback" not in output


def _trainer_callbacks(overrides: list[str], tmp_path: Path) -> list[str]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name="search", overrides=["logger=none", "trainer.accelerator=cpu", *overrides])
    return [type(c).__name__ for c in validate_config(cfg).trainer(1, root=tmp_path, loggers=[]).callbacks]


def test_trainers_print_no_model_summary_unless_asked(tmp_path: Path) -> None:
    assert not any("ModelSummary" in name for name in _trainer_callbacks([], tmp_path))
    assert any("ModelSummary" in name for name in _trainer_callbacks(["trainer.enable_model_summary=true"], tmp_path))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_quiet_libraries_drops_lightnings_device_lines_only(tmp_path: Path) -> None:
    import pytorch_lightning as pl
    from pytorch_lightning.utilities import rank_zero_info

    quiet_libraries()
    quiet_libraries()  # idempotent: one filter
    target = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    records, level = _Records(), target.level
    target.addHandler(records)
    target.setLevel(logging.INFO)
    try:
        pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, default_root_dir=str(tmp_path))
        rank_zero_info("`Trainer(limit_val_batches=1)` was configured so 1 batch will be used.")
    finally:
        target.removeHandler(records)
        target.setLevel(level)
    assert not any("available:" in m or "Tip" in m for m in records.messages), records.messages
    assert any("limit_val_batches" in m for m in records.messages)  # other Lightning INFO lines still show
    assert len(target.filters) == 1


def test_wandb_logger_is_built_without_the_anonymous_setting(tmp_path: Path) -> None:
    cfg = compose_config("search", ["logger=wandb", f"hydra.run.dir={tmp_path}"])
    cfg.logger.wandb.save_dir = str(tmp_path)
    (logger,) = instantiate_group(cfg.logger)
    assert "anonymous" not in logger._wandb_init  # Lightning's anonymous=None makes W&B warn
