"""The whole single-stage flow behind ``search.py`` (docs/architecture.md §3): evaluators, search, final step, report.

The config is validated once into a :class:`~yoso.app.run.Run`. Step 1: every strategy prepares
from the Run (a one-shot strategy takes its HyperNet, cost model and Trainer factory there), and
a sampling strategy gets the fast evaluators: the HyperNet checkpoint (cached under
``paths.cache_dir/hypernets`` by a hash of everything its weights depend on) and the
``cost_model`` (the GP, cached by its own key). Step 2 runs the strategy in one
:class:`~yoso.search.engine.Experiment` (checkpoint ``search.ckpt``, output ``history.csv``).
Step 3 re-evaluates the top-N with the reference cost and stand-alone training and writes
``best.yaml`` and ``pareto.png`` in the run directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from yoso.app.run import SEARCH_GROUPS, Run, present, validate_config
from yoso.config import ConfigError
from yoso.predictor.cost import CostModel
from yoso.search.engine import Experiment, wandb_loggers
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.final import best_record, final_step, table_columns, table_rows, write_front
from yoso.search.inner import InnerAccelerator
from yoso.search.report import accuracy_signal, plot_pareto
from yoso.search.strategy import OneShotStrategy
from yoso.stats import format_accuracy
from yoso.tables import format_table

log = logging.getLogger("yoso.search")

#: The accuracy predictor's training set in the run directory (build lines: table rows and earlier runs' results).
PINNED_TRAINING = "accuracy_train.jsonl"


def build_evaluator(run: Run) -> CandidateEvaluator:
    """Step 1 of a sampling strategy: the HyperNet and the hardware evaluators (reused or built) as one evaluator.

    With ``search.inner_accelerator`` each network is costed on its best accelerator of the space by the reference
    cost (:class:`~yoso.search.inner.InnerAccelerator`), not by the cost model."""
    space, reward = present(run.space, "space"), present(run.reward, "reward")
    hardware: CostModel
    designer = None
    if present(run.search, "search").inner_accelerator:
        reference = run.reference_cost()
        designer = InnerAccelerator(space, reference.evaluate_designs, reward, run.constraints or reward.constraints)
        hardware = designer.figures  # the designed candidates' figures, as the sweep that chose them gave them
    else:
        hardware = run.cost_model()
    accuracy = run.accuracy_model()
    if accuracy is not None:  # e.g. predicted stand-alone accuracy: no HyperNet, no race
        hardware(space.sample(1, 0))  # builds or loads the GP now, not inside the progress bar
        accuracy(space.sample(1, 0))  # fits the accuracy model now, too
        return CandidateEvaluator(accuracy, hardware, reward, constraints=run.constraints, designer=designer)
    datamodule = run.datamodule()
    supernet = run.hypernet().to(run.device())
    hardware(space.sample(1, 0))  # builds or loads the GP now, not inside the progress bar
    search = present(run.search, "search")
    race = search.race
    supernet.evaluator(datamodule, looks=list(race.looks))
    return CandidateEvaluator(
        supernet.accuracy,
        hardware,
        present(run.reward, "reward"),
        constraints=run.constraints,
        race=supernet.race if race.looks else None,
        race_top=race.top if race.top is not None else search.top_n,
        designer=designer,
    )


def run_search(cfg: DictConfig) -> dict[str, Any]:
    """Validate, build the evaluators, search, run the final step; returns the chosen design's record."""
    import pytorch_lightning as pl

    run = validate_config(cfg, require=SEARCH_GROUPS)
    search, strategy = present(run.search, "search"), present(run.strategy, "strategy")
    reward, constraints = present(run.reward, "reward"), present(run.constraints, "constraints")
    if search.inner_accelerator and isinstance(strategy, OneShotStrategy):
        raise ConfigError(
            "search.inner_accelerator", True, f"false with the one-shot strategy {strategy.name!r} (a sampling one)"
        )
    log.info("config valid; seed %d; %s; strategy %s; %s", run.seed, run.space, strategy.name, reward)
    if search.inner_accelerator:
        accelerators = present(run.space, "space").accelerators.size
        log.info("inner accelerator: each sampled network on its best of the %d accelerators", accelerators)
    run_dir = run.output_dir
    pl.seed_everything(run.seed, workers=True, verbose=False)
    loggers = run.loggers()
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    predictor = run.accuracy_model()  # None: the search ranks by the HyperNet's accuracy
    if hasattr(predictor, "pin"):  # its training set, fixed for this run (a resumed run fits the same model)
        predictor.pin(run_dir / PINNED_TRAINING)
    datamodule = run.datamodule()  # the data first: a bad file stops the run before any model is built or trained
    strategy.prepare(run)  # a one-shot strategy takes its HyperNet, cost model and Trainer factory here
    one_shot = isinstance(strategy, OneShotStrategy)
    evaluator = None if one_shot else build_evaluator(run)
    experiment = Experiment(
        strategy,
        evaluator,
        search.iterations,
        run_dir,
        run.fingerprint,
        loggers,
        progress=search.progress,
        histogram_every=search.histogram_every,
        board=run.board,
        checkpoint_every_s=search.checkpoint_every_s,
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

    train = run.standalone_trainer(run_dir / "final", keep=True) if search.standalone else None
    accuracy_label = "HyperNet accuracy" if predictor is None else "predicted stand-alone accuracy"
    rows, chosen = final_step(
        history,
        reward,
        search.top_n,
        run.reference_cost(),
        train,
        experiment.final_progress(),
        constraints,
        hypernet_n=len(datamodule.splits.val),
        front_k=search.front_k,
        predicted=getattr(predictor, "predict", None),  # (mean, std) of a predictor; None: the HyperNet's accuracy
    )  # the HyperNet: the whole val split
    if search.front_k:
        write_front(run_dir / "front.csv", rows)
    thresholds = (constraints.t_lat_ms, constraints.t_eer_mj)
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
            title=f"{strategy.name}, {len(history)} samples, none feasible",
            accuracy_label=accuracy_label,
        )
        log.error(
            "hard constraints: no design meets latency <= %g ms and energy <= %g mJ under the reference cost "
            "(%d samples, %d feasible by the search-time evaluator); best.yaml not written",
            *thresholds,
            len(history),
            int(np.nansum(history.feasible)),
        )
        return {"feasible": False, "reward": float("nan"), "samples": len(history)}
    best = best_record(rows[chosen], reward, constraints)
    best_path.write_text(yaml.safe_dump(best, sort_keys=False))
    table, columns = table_rows(rows), table_columns(rows)
    log.info(
        "final step (top-%d, reference cost + stand-alone):\n%s",
        len(rows),
        format_table(table, columns, title=f"chosen: rank {chosen + 1}"),
    )
    pareto = plot_pareto(
        run_dir / "pareto.png",
        history.accuracy,
        history.energy_mj,
        history.latency_ms,
        val_images=history.val_images,
        chosen=best["iteration"],
        thresholds=thresholds,
        title=f"{strategy.name}, {len(history)} samples",
        accuracy_label=accuracy_label,
        verified=rows if search.standalone else (),
        chosen_verified=chosen,
    )
    _log_final(loggers, table, columns, best, pareto, len(history))
    signal = accuracy_signal(
        history.accuracy, history.energy_mj, history.latency_ms, history.val_images, total=len(datamodule.splits.val)
    )
    log.info(
        "accuracy signal: over the %d whole-split samples, the %s spans %.2f pp (%.1fx the binomial std "
        "%.2f pp at n=%d); the Pareto fronts span %.2f pp (energy) and %.2f pp (latency)",
        signal["samples"],
        accuracy_label,
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


def _log_final(
    loggers: list[Any],
    table: list[dict[str, Any]],
    columns: tuple[str, ...],
    best: dict[str, Any],
    pareto: Path,
    step: int,
) -> None:
    """The top-N table, the Pareto plot and the chosen design's figures to every logger."""
    figures = {f"final/{k}": float(best[k]) for k in ("accuracy", "test_accuracy", "energy_mj", "latency_ms", "reward")}
    for logger in loggers:
        logger.log_metrics(figures, step=step)
    for logger in wandb_loggers(loggers):
        logger.log_table(key="final/top_n", columns=list(columns), data=[[r[c] for c in columns] for r in table])
        logger.log_image(key="final/pareto", images=[str(pareto)])
        logger.experiment.summary.update({**figures, "final/accelerator": best["accelerator_str"]})
    for logger in loggers:
        logger.save()
