"""The whole single-stage flow behind ``search.py`` (docs/architecture.md §3): evaluators, search, final step, report.

Step 1 reuses or builds the fast evaluators: the HyperNet checkpoint (cached under
``paths.cache_dir/hypernets`` by a hash of everything its weights depend on) and the GP
predictor (cached by the predictor's own key); a one-shot strategy gets the HyperNet and its
differentiable cost model instead. Step 2 runs the configured strategy, sampling or one-shot,
in one :class:`~yoso.search.engine.Experiment` (checkpoint ``search.ckpt``, output
``history.csv``). Step 3 re-evaluates the top-N and writes ``best.yaml`` and ``pareto.png`` in
the run directory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from yoso.app.cli import SEARCH_GROUPS, RunSetup, instantiate_group, validate_config
from yoso.cache import digest, get_or_build
from yoso.config import plain_groups
from yoso.predictor.cost import build_cost_model
from yoso.search.engine import Experiment, wandb_loggers
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.final import TABLE_COLUMNS, best_record, final_step, table_rows
from yoso.search.report import accuracy_signal, plot_pareto
from yoso.search.strategy import OneShotStrategy
from yoso.stats import format_accuracy
from yoso.tables import format_table

log = logging.getLogger("yoso.search")

#: Bumped when HyperNet training changes in a way the config does not show.
HYPERNET_VERSION = 2  # 2: elastic width/depth and sandwich training
#: Trainer keys that change what a trained network learns or scores (others, e.g. the progress bar, do not).
TRAINER_KEYS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "max_steps",
    "precision",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "deterministic",
)


#: ``model`` keys that change how a trained HyperNet is evaluated (or the stand-alone networks), not its weights.
EVALUATION_KEYS = ("_target_", "standalone", "bn_recalibration_batches")


def hypernet_key(cfg: DictConfig) -> str:
    """Hash of everything the HyperNet's weights depend on: data, space, model, seed, trainer limits.

    Not the accelerator group: each training step's path is drawn as one vector whose DNN decisions come
    first, so they are the same for every accelerator space (``accelerator=naas``, an FPGA board's), and
    one HyperNet serves them all (:func:`load_or_train_hypernet` gives it the run's accelerator space).
    """
    parts = plain_groups(cfg, "data", "space", "model", "seed")
    parts["data"] = {k: v for k, v in parts["data"].items() if k != "num_workers"}
    parts["model"] = {k: v for k, v in parts["model"].items() if k not in EVALUATION_KEYS}
    parts["trainer"] = {k: cfg.trainer.get(k) for k in TRAINER_KEYS}
    return digest({**parts, "version": HYPERNET_VERSION})


def _trainer(
    cfg: DictConfig,
    epochs: int,
    root: Path,
    callbacks: list[Any] | None = None,
    loggers: list[Any] | None = None,
    **overrides: Any,
):
    """A Lightning Trainer from the ``trainer`` group, logging to ``loggers`` (none: no logger), with a rich
    progress bar when enabled.

    The search's own Trainer gets the run's loggers; the HyperNet (cached across runs) and the
    top-N stand-alone trainings (one Trainer each, every one restarting at step 0) get none.
    """
    from pytorch_lightning.callbacks import Checkpoint, RichProgressBar

    callbacks = list(callbacks or [])
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(RichProgressBar())
    return hydra.utils.instantiate(
        cfg.trainer,
        max_epochs=epochs,
        default_root_dir=str(root),
        logger=loggers or False,
        callbacks=callbacks,
        **overrides,
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
    )


def epoch_checkpoint(cfg: DictConfig, folder: Path) -> Any:
    """conf/callbacks/model_checkpoint.yaml writing ``folder/last.ckpt`` after every training epoch (resumable)."""
    return hydra.utils.instantiate(cfg.callbacks.model_checkpoint, dirpath=str(folder))


def load_or_train_hypernet(cfg: DictConfig, datamodule: Any):  # -> SupernetModule
    """The HyperNet of this config: loaded from the cache, else trained (resuming an interrupted training) and cached.

    Its folder ``paths.cache_dir/hypernets/<hypernet_key>`` holds ``hypernet.ckpt`` and, while it
    trains, the resumable ``last.ckpt``; parallel sweep jobs train it once (the cache's file lock).
    """
    from yoso.nn import SupernetModule

    root = Path(cfg.paths.cache_dir) / "hypernets" / hypernet_key(cfg)

    def load(path: Path) -> SupernetModule:
        log.info("reusing the HyperNet %s", path)
        accelerator = plain_groups(cfg, "accelerator")["accelerator"]  # the run's, which the weights do not depend on
        model = SupernetModule.load_from_checkpoint(
            path, map_location="cpu", weights_only=True, accelerator=accelerator
        )
        model.hparams.bn_recalibration_batches = int(cfg.model.bn_recalibration_batches)  # validated at start-up
        return model

    def train() -> SupernetModule:
        last = root / "last.ckpt"
        log.info(
            "training the HyperNet (%d epochs) into %s%s",
            cfg.model.epochs,
            root,
            " (resuming)" if last.is_file() else "",
        )
        start = time.perf_counter()
        model = SupernetModule.from_config(plain_groups(cfg, "space", "accelerator", "data", "model", "seed"))
        every = int(cfg.model.get("val_every_n_epochs") or 1)  # validated at start-up (module_arguments)
        trainer = _trainer(cfg, cfg.model.epochs, root, [epoch_checkpoint(cfg, root)], check_val_every_n_epoch=every)
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(last) if last.is_file() else None, weights_only=True)
        log.info(
            "HyperNet trained in %.1f s (val/acc_mean %.4f)",
            time.perf_counter() - start,
            float(trainer.callback_metrics.get("val/acc_mean", float("nan"))),
        )
        return model

    return get_or_build(
        root / "hypernet.ckpt", train, load, lambda model, path: model.trainer.save_checkpoint(path, weights_only=True)
    )


def _device(cfg: DictConfig) -> torch.device:
    wants_gpu = str(cfg.trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def search_fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """What a resumed search must share with the run it continues (iterations and top-N may change)."""
    parts = plain_groups(cfg, "space", "accelerator", "reward", "strategy", "seed", "target")
    if cfg.get("constraints") is not None:
        parts.update(plain_groups(cfg, "constraints"))
    hw = plain_groups(cfg, "hw")["hw"]
    hw["predictor"] = {k: v for k, v in hw["predictor"].items() if k not in ("n_jobs", "cache_dir")}
    race = OmegaConf.to_container(cfg.search.race, resolve=True) if cfg.search.get("race") is not None else None
    return {**parts, "hw": digest(hw), "hypernet": hypernet_key(cfg), "race": race}


def evaluated_images(batches: Any, size: int, batch_size: int) -> int:
    """Images an ordered evaluation loop saw: ``batches`` (``trainer.num_val_batches``) of ``batch_size``, at most ``size``."""
    return int(min(size, sum(batches) * batch_size))


def standalone_trainer_fn(cfg: DictConfig, datamodule: Any, root: Path):
    """``genotype -> (val accuracy, test accuracy, val images, test images)``: stand-alone training at ``model.standalone``.

    The image counts are those the trainer evaluated (``limit_val_batches``/``limit_test_batches`` apply).
    """
    import pytorch_lightning as pl

    from yoso.nn import ChildModule

    plain = plain_groups(cfg, "data", "model", "space")  # the space: an elastic genotype's macro
    epochs = int(cfg.model.standalone.epochs)

    def train(genotype: Any) -> tuple[float, float, int, int]:
        pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
        model = ChildModule.from_config(plain, genotype)
        # no validation while fitting: the trained network is validated (and tested) once below
        trainer = _trainer(cfg, epochs, root, check_val_every_n_epoch=epochs + 1, num_sanity_val_steps=0)
        trainer.fit(model, datamodule=datamodule)
        val = float(trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/acc"])
        val_n = evaluated_images(trainer.num_val_batches, len(datamodule.splits.val), datamodule.batch_size)
        test = float(trainer.test(model, datamodule=datamodule, verbose=False)[0]["test/acc"])
        test_n = evaluated_images(trainer.num_test_batches, len(datamodule.splits.test), datamodule.batch_size)
        return val, test, val_n, test_n

    return train


def _datamodule(cfg: DictConfig) -> Any:
    """The run's DataModule, set up for fitting."""
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    return datamodule


def build_evaluator(cfg: DictConfig, setup: RunSetup) -> tuple[CandidateEvaluator, Any]:
    """Step 1: the HyperNet and hardware evaluators (reused or built) as one evaluator; also the datamodule."""
    datamodule = _datamodule(cfg)
    supernet = load_or_train_hypernet(cfg, datamodule).to(_device(cfg))
    hardware = build_cost_model(cfg)
    hardware(setup.space.sample(1, 0))  # builds or loads the GP now, not inside the progress bar
    race = setup.search.race
    supernet.evaluator(datamodule, looks=list(race.looks))
    evaluator = CandidateEvaluator(
        supernet.accuracy,
        hardware,
        setup.reward,
        constraints=setup.constraints,
        race=supernet.race if race.looks else None,
        race_top=race.top,
    )
    return evaluator, datamodule


def prepare_one_shot(cfg: DictConfig, setup: RunSetup, run_dir: Path, loggers: list[Any]) -> Any:
    """Step 1 for a one-shot strategy: hand it the HyperNet, its differentiable cost model and a Trainer factory.

    Returns the datamodule.
    """
    from yoso.search.differentiable import OneShotInputs

    datamodule = _datamodule(cfg)
    mlp = build_cost_model(cfg, "mlp", settings=setup.strategy.settings.cost_model)
    supernet = load_or_train_hypernet(cfg, datamodule)
    cost, errors = mlp.module, mlp.held_out_errors()
    log.info(
        "differentiable cost model (MLP on %d simulator samples): held-out MAPE energy %.2f %%, latency %.2f %%",
        mlp.setup.predictor.n_train,
        errors["energy_mape"],
        errors["latency_mape"],
    )
    simulator = build_cost_model(cfg, "simulator")

    def trainer(epochs: int, callbacks: list[Any], **overrides: Any) -> Any:
        return _trainer(cfg, epochs, run_dir, callbacks, loggers, **overrides)

    setup.strategy.prepare(
        OneShotInputs(
            supernet.net, cost, setup.reward, simulator, datamodule, int(cfg.model.bn_recalibration_batches), trainer
        )
    )
    return datamodule


def run_search(cfg: DictConfig) -> dict[str, Any]:
    """Validate, build the evaluators, search, run the final step; returns the chosen design's record."""
    import pytorch_lightning as pl

    setup = validate_config(cfg, require=SEARCH_GROUPS)
    search = setup.search
    log.info("config valid; seed %d; %s; strategy %s; %s", setup.seed, setup.space, setup.strategy.name, setup.reward)
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(setup.seed, workers=True, verbose=False)
    loggers = instantiate_group(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    one_shot = isinstance(setup.strategy, OneShotStrategy)
    if one_shot:
        evaluator, datamodule = None, prepare_one_shot(cfg, setup, run_dir, loggers)
    else:
        evaluator, datamodule = build_evaluator(cfg, setup)
    experiment = Experiment(
        setup.strategy,
        evaluator,
        search.iterations,
        run_dir,
        search_fingerprint(cfg),
        loggers,
        progress=search.progress,
        histogram_every=search.histogram_every,
        board=setup.board,
    )
    history = experiment.run()
    if one_shot:
        log.info(
            "search: %d exported candidates in %.1f s; best search reward %.4f; %d meet the thresholds",
            len(history),
            experiment.elapsed(),
            float(history.reward.max()),
            int(np.nansum(history.feasible)),
        )
    else:
        raced = np.isfinite(history.val_images).any()  # racing off: every accuracy is on the whole split
        whole = str(int(np.sum(history.val_images == len(datamodule.splits.val)))) if raced else "all"
        log.info(
            "search: %d samples in %.1f s (strategy overhead %.1f ms per sample; %s accuracies on the whole "
            "validation split); best search reward %.4f; %d samples meet the thresholds",
            len(history),
            float(history.wall_time_s[-1]) if len(history) else 0.0,
            experiment.strategy_ms_per_candidate,
            whole,
            float(history.reward.max()),
            int(np.nansum(history.feasible)),
        )

    train = standalone_trainer_fn(cfg, datamodule, run_dir / "final") if search.standalone else None
    cost = build_cost_model(cfg, "simulator")
    rows, chosen = final_step(
        history,
        setup.reward,
        search.top_n,
        cost,
        train,
        experiment.final_progress(),
        setup.constraints,
        hypernet_n=len(datamodule.splits.val),
    )  # the HyperNet: the whole val split
    thresholds = (setup.constraints.t_lat_ms, setup.constraints.t_eer_mj)
    best_path = run_dir / "best.yaml"
    if chosen is None:  # hard constraints and no feasible design: say so, write nothing false
        best_path.unlink(missing_ok=True)
        plot_pareto(
            run_dir / "pareto.png",
            history.accuracy,
            history.energy_mj,
            history.latency_ms,
            val_images=history.val_images,
            thresholds=thresholds,
            title=f"{setup.strategy.name}, {len(history)} samples, none feasible",
        )
        log.error(
            "hard constraints: no design meets latency <= %g ms and energy <= %g mJ under the simulator "
            "(%d samples, %d feasible by the search-time evaluator); best.yaml not written",
            *thresholds,
            len(history),
            int(np.nansum(history.feasible)),
        )
        return {"feasible": False, "reward": float("nan"), "samples": len(history)}
    best = best_record(rows[chosen], setup.reward, setup.constraints)
    best_path.write_text(yaml.safe_dump(best, sort_keys=False))
    table = table_rows(rows)
    log.info(
        "final step (top-%d, simulator + stand-alone):\n%s",
        len(rows),
        format_table(table, TABLE_COLUMNS, title=f"chosen: rank {chosen + 1}"),
    )
    pareto = plot_pareto(
        run_dir / "pareto.png",
        history.accuracy,
        history.energy_mj,
        history.latency_ms,
        val_images=history.val_images,
        chosen=best["iteration"],
        thresholds=thresholds,
        title=f"{setup.strategy.name}, {len(history)} samples",
    )
    _log_final(loggers, table, best, pareto, len(history))
    signal = accuracy_signal(
        history.accuracy, history.energy_mj, history.latency_ms, history.val_images, total=len(datamodule.splits.val)
    )
    log.info(
        "accuracy signal: the %d whole-split samples' HyperNet accuracies span %.2f pp (%.1fx the binomial std "
        "%.2f pp at n=%d); the Pareto fronts span %.2f pp (energy) and %.2f pp (latency)",
        signal["samples"],
        100 * signal["span"],
        signal["span"] / signal["binomial_sd"],
        100 * signal["binomial_sd"],
        signal["val_images"],
        100 * signal["front_span_energy"],
        100 * signal["front_span_latency"],
    )
    log.info(
        "best design: %s, accuracy %s (test %s), energy %.3f mJ, latency %.3f ms, reward %.4f -> %s",
        best["accelerator_str"],
        format_accuracy(best["accuracy"], best["accuracy_n"]),
        format_accuracy(best["test_accuracy"], best["test_accuracy_n"]),
        best["energy_mj"],
        best["latency_ms"],
        best["reward"],
        best_path,
    )
    return best


def _log_final(loggers: list[Any], table: list[dict[str, Any]], best: dict[str, Any], pareto: Path, step: int) -> None:
    """The top-N table, the Pareto plot and the chosen design's figures to every logger."""
    figures = {f"final/{k}": float(best[k]) for k in ("accuracy", "test_accuracy", "energy_mj", "latency_ms", "reward")}
    for logger in loggers:
        logger.log_metrics(figures, step=step)
    for logger in wandb_loggers(loggers):
        logger.log_table(
            key="final/top_n", columns=list(TABLE_COLUMNS), data=[[r[c] for c in TABLE_COLUMNS] for r in table]
        )
        logger.log_image(key="final/pareto", images=[str(pareto)])
        logger.experiment.summary.update({**figures, "final/accelerator": best["accelerator_str"]})
    for logger in loggers:
        logger.save()
