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

from yoso.app.cli import check_group_choices, task_wrapper  # noqa: E402

log = logging.getLogger("yoso.train")

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
    from yoso.app.run import TRAIN_GROUPS, validate_config
    from yoso.config import check_choice

    run = validate_config(cfg, require=TRAIN_GROUPS)
    mode = check_choice("mode", cfg.get("mode"), MODES)
    log.info("config valid; seed %d; mode %s; %s", run.seed, mode, run.space)

    import pytorch_lightning as pl

    from yoso.nn import ChildModule

    pl.seed_everything(run.seed, workers=True, verbose=False)  # the config line names the seed
    datamodule = hydra.utils.instantiate(run.group("data"))
    if mode == "supernet":
        model: pl.LightningModule = run.supernet_module()
        epochs = run.group("model")["epochs"]
    else:
        genotype = resolve_genotype(cfg, run.space)
        log.info("stand-alone genotype:\n%s", genotype)
        standalone = run.group("model")["standalone"]
        model = ChildModule.from_groups(standalone, run.group("data"), run.group("space"), genotype)
        epochs = standalone["epochs"]

    trainer: pl.Trainer = run.trainer(epochs, run.callbacks())
    for logger in run.loggers():
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

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
