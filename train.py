"""HyperNet or stand-alone training under Lightning: ``python train.py`` (docs/architecture.md §3).

``python train.py`` trains the HyperNet; ``python train.py mode=standalone genotype=DARTS_V2``
trains one network from scratch; ``ckpt_path=<run dir>/checkpoints/last.ckpt`` resumes.
"""

import logging
import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.app.cli import TRAIN_GROUPS, check_group_choices, instantiate_group, task_wrapper, validate_config  # noqa: E402

log = logging.getLogger("yoso.train")

#: Training modes selectable with ``mode=...``.
MODES = ("supernet", "standalone")


def resolve_genotype(cfg: DictConfig, space: Any) -> Any:
    """The stand-alone genotype: a known name, a YAML/JSON file, or (null) one drawn uniformly with the seed."""
    from yoso.space import load_genotype

    name = cfg.get("genotype")
    if name is None:
        return space.decode(space.sample(1, cfg.seed)[0])[0]
    path = Path(hydra.utils.to_absolute_path(str(name)))
    return load_genotype(str(path) if path.is_file() else str(name))


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Validate the config, then fit the HyperNet or one stand-alone network; returns the logged metrics."""
    from yoso.config import check_choice

    setup = validate_config(cfg, require=TRAIN_GROUPS)
    mode = check_choice("mode", cfg.get("mode"), MODES)
    log.info("config valid; seed %d; mode %s; %s", setup.seed, mode, setup.space)

    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ProgressBar

    from yoso.nn import ChildModule, SupernetModule

    pl.seed_everything(setup.seed, workers=True, verbose=False)  # the config line names the seed
    datamodule = hydra.utils.instantiate(cfg.data)
    plain = OmegaConf.to_container(cfg, resolve=True)
    if mode == "supernet":
        model: pl.LightningModule = SupernetModule.from_config(plain)
        epochs = cfg.model.epochs
    else:
        genotype = resolve_genotype(cfg, setup.space)
        log.info("stand-alone genotype:\n%s", genotype)
        model = ChildModule.from_config(plain, genotype)
        epochs = cfg.model.standalone.epochs

    callbacks = instantiate_group(cfg.get("callbacks"))
    if cfg.trainer.get("enable_progress_bar") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, max_epochs=epochs, callbacks=callbacks, logger=loggers or False
    )
    for logger in loggers:
        logger.log_hyperparams(plain)

    if cfg.get("ckpt_path"):
        log.info("resuming from %s", cfg.ckpt_path)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if mode == "standalone" and cfg.get("test", True):
        trainer.test(model, datamodule=datamodule, verbose=False)  # test/acc is logged below
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    for key in ("val/acc_mean", "val/acc", "test/acc"):
        if key in metrics:
            log.info("%s = %.4f", key, metrics[key])
    checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", "") or getattr(
        trainer.checkpoint_callback, "best_model_path", ""
    )
    if checkpoint:
        log.info("checkpoint: %s", checkpoint)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    check_group_choices()
    main()
