"""The search engine (docs/architecture.md §3): one :class:`Experiment` runs any strategy and owns one checkpoint.

* **Sampling strategies** (:class:`~yoso.search.strategy.Strategy`) run through ask -> evaluate
  -> tell, ``batch_size`` candidates a step, on the shared :class:`CandidateEvaluator`.
* **One-shot strategies** (:class:`~yoso.search.strategy.OneShotStrategy`) run their own step
  loop (the differentiable one: a LightningModule trained epoch by epoch); each step appends its
  exported candidate to ``experiment.history`` and the engine's Lightning callback
  (:meth:`Experiment.commit_callback`) commits after it.

**The checkpoint** ``<run_dir>/search.ckpt`` (:data:`CHECKPOINT_NAME`), atomically replaced
after a step at most every ``checkpoint_every_s`` seconds (``search.checkpoint_every_s``; 0: after
every step) and after the last one, is the only resume state of a search. Writing it costs time
that grows with the history (tens of ms at thousands of rows), so a fast search commits on a clock;
a kill loses at most that much work, which the rerun redoes identically. It is one ``torch.save`` dict:

* ``engine``: ``version``, ``fingerprint`` (the config a resume must share), ``step``,
  ``elapsed_s``, ``strategy_s`` (ask + tell wall time), ``rows`` (every evaluated candidate,
  :meth:`History.state_dict`), ``rng`` (Python, NumPy and torch global RNG states) and
  ``final`` (the final step's finished candidates, :meth:`Experiment.final_progress`);
* ``strategy``: the strategy's :meth:`~yoso.search.strategy.BaseStrategy.state_dict`;
* for a one-shot strategy also Lightning's own keys (module and optimiser states, loops,
  callbacks): the engine's callback writes the file with ``trainer.save_checkpoint`` and adds
  ``engine`` and ``strategy`` in its ``on_save_checkpoint`` hook, and the strategy resumes by
  passing the same file to ``trainer.fit(ckpt_path=...)`` (:attr:`Experiment.resume_path`).
  Once the search is over, the final step's commits write the engine's and strategy's keys only
  (the search is never resumed again).

One protocol resumes both: :class:`Experiment` reads ``engine`` (and ``strategy``) when it is
built; ``history.csv`` is an output, rewritten from the checkpoint's rows, so rows a kill left
beyond the checkpoint go and a step the checkpoint holds is never redone. Every iteration is
in the history exactly once, and a deterministic strategy gives the uninterrupted run's history.
A strategy may keep a durable store of its own that runs ahead of the checkpoint (the Optuna
strategies' journal, ``optuna.journal``); it reconciles it with its checkpointed state. An
unreadable checkpoint (empty, truncated, not a search checkpoint) stops the run with one line
naming the file (:class:`~yoso.config.InputError`, exit status 2).

**Plain data only.** The file holds dicts, lists, tuples, Python scalars, strings and tensors
(:func:`plain_state` turns numpy arrays into tensors and refuses anything else, naming its key),
so torch's safe loader opens it (``torch.load(path, weights_only=True)``: loading runs no code)
and no library's internals are frozen into it. A file that loader refuses (an older yoso's, or
a foreign one) stops the run with one line naming the file and exit status 2.
"""

from __future__ import annotations

import logging
import pickle  # only its UnpicklingError, which torch's safe loader raises for more than plain data
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from yoso.cache import atomic_path
from yoso.config import InputError
from yoso.hw.fpga import Board
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.final import FinalProgress
from yoso.search.history import History
from yoso.search.strategy import BaseStrategy, Evaluation, OneShotStrategy, Strategy

log = logging.getLogger("yoso")

#: Bumped when the checkpoint layout changes (3: plain data only, no pickled library objects).
CHECKPOINT_VERSION = 3
#: The engine's checkpoint inside the run directory.
CHECKPOINT_NAME = "search.ckpt"
#: The checkpoint of the search loop before the engine (yoso before issue 19): such a run is not resumed or overwritten.
LEGACY_CHECKPOINT = "search_state.pt"
#: The history file inside the run directory (an output: rewritten from the checkpoint on resume).
HISTORY_NAME = "history.csv"


#: What a checkpoint may hold besides dicts, lists and tuples: what torch's weights-only loader opens.
PLAIN_LEAVES = (type(None), bool, int, float, str, torch.Tensor)


def plain_state(obj: Any, key: str = "state") -> Any:
    """``obj`` as plain data for a checkpoint: numpy arrays become tensors, numpy scalars Python numbers.

    Anything else that is not a dict, list, tuple or one of :data:`PLAIN_LEAVES` (a library
    object, bytes of a pickle) is a TypeError naming its ``key``: a checkpoint never freezes a
    library's internals, so it loads with ``torch.load(..., weights_only=True)``.
    """
    if isinstance(obj, np.ndarray):
        return torch.tensor(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, PLAIN_LEAVES):
        return obj
    if isinstance(obj, Mapping):
        return {k: plain_state(v, f"{key}.{k}") for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(plain_state(v, f"{key}[{i}]") for i, v in enumerate(obj))
    raise TypeError(
        f"{key}: {type(obj).__module__}.{type(obj).__qualname__} is not plain data; a checkpoint holds "
        "dicts, lists, tuples, numbers, strings, numpy arrays and tensors only"
    )


def _unsafe_globals(path: Path) -> list[str]:
    """The classes and functions a torch file names that the safe loader refuses (none if it cannot tell)."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a torch zip file at all
        return []


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The engine checkpoint at ``path``, opened by torch's safe loader; one line naming the file if it is
    unreadable or holds more than plain data (InputError, exit 2)."""
    advice = "delete it (or the run directory) to start the search over"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a cut or foreign file
        unsafe = _unsafe_globals(path) if isinstance(err, pickle.UnpicklingError) else []
        if unsafe:  # the safe loader met a class or function: an older yoso's file, or a foreign one
            raise InputError(
                f"{path}: holds objects beyond plain data ({', '.join(unsafe[:3])}), which a search "
                f"checkpoint of this yoso never does (an older yoso wrote it?); {advice}"
            ) from None
        reason = (str(err).strip().splitlines() or [""])[0]  # one line: torch's messages may run on
        raise InputError(
            f"{path}: not a readable search checkpoint ({type(err).__name__}: {reason}); {advice}"
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("engine"), dict):
        raise InputError(f"{path}: not a search checkpoint (no engine state); {advice}")
    if state["engine"].get("version") != CHECKPOINT_VERSION:
        raise InputError(
            f"{path}: checkpoint version {state['engine'].get('version')}, this yoso reads "
            f"{CHECKPOINT_VERSION}; {advice}"
        )
    return state


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(legacy=False), "torch": torch.get_rng_state()}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    numpy = state["numpy"]  # get_state(legacy=False), its MT19937 key a tensor in the file (plain data)
    np.random.set_state({**numpy, "state": {**numpy["state"], "key": np.asarray(numpy["state"]["key"], np.uint32)}})
    torch.set_rng_state(state["torch"])


def wandb_loggers(loggers: Sequence[Any]) -> list[Any]:
    """The W&B loggers among ``loggers`` (Lightning's WandbLogger, imported only when there are loggers)."""
    if not loggers:
        return []
    from pytorch_lightning.loggers import WandbLogger

    return [logger for logger in loggers if isinstance(logger, WandbLogger)]


class Experiment:
    """Runs one search of ``strategy`` (sampling or one-shot) with one checkpoint, the history, logging and progress.

    ``iterations`` is how many candidates a sampling strategy evaluates (a one-shot strategy
    exports its own ``exports``); ``evaluator`` scores a sampling strategy's candidates (a
    one-shot strategy scores its exports with its own :class:`CandidateEvaluator`).
    Building it resumes from ``<run_dir>/search.ckpt`` when there is one.
    """

    def __init__(
        self,
        strategy: BaseStrategy,
        evaluator: CandidateEvaluator | None,
        iterations: int,
        run_dir: str | Path | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        loggers: Sequence[Any] = (),
        progress: bool = True,
        histogram_every: int = 50,
        board: Board | None = None,
        checkpoint_every_s: float = 0.0,
    ):
        self.strategy, self.evaluator = strategy, evaluator
        self.one_shot = isinstance(strategy, OneShotStrategy)
        self.iterations = strategy.exports if isinstance(strategy, OneShotStrategy) else int(iterations)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.fingerprint = dict(fingerprint or {})
        self.loggers, self.progress, self.histogram_every = list(loggers), progress, int(histogram_every)
        self.checkpoint_every_s = float(checkpoint_every_s)
        self.history = History(
            strategy.space,
            self.run_dir / HISTORY_NAME if self.run_dir else None,
            extra=strategy.history_columns,
            board=board,
        )
        self.step = 0
        self.elapsed_before = 0.0
        self.strategy_s = 0.0  # wall time spent in ask + tell (the strategy's own overhead), resumed too
        self.resume_path: Path | None = None  # the checkpoint this run continues (a one-shot strategy resumes from it)
        self.final: dict[str, Any] = {}  # the final step's finished candidates (see yoso.search.final)
        self._started = time.perf_counter()
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        strategy.bind(self.run_dir)
        if self.run_dir is not None:
            self._resume()

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / CHECKPOINT_NAME if self.run_dir else None

    def elapsed(self) -> float:
        """Wall time of the search so far (seconds), across resumes."""
        return self.elapsed_before + time.perf_counter() - self._started

    # ----------------------------------------------------------------- the checkpoint

    def _resume(self) -> None:
        path = self.checkpoint_path
        assert path is not None and self.run_dir is not None  # called only with a run directory
        if not path.exists():  # a fresh run, or killed before its first checkpoint: start over
            if (self.run_dir / LEGACY_CHECKPOINT).exists():  # never overwrite an older yoso's history
                raise InputError(
                    f"{self.run_dir} holds a search of an older yoso ({LEGACY_CHECKPOINT}), which this "
                    "one cannot resume; start a new run directory"
                )
            self.history.rewrite()
            return
        state = read_checkpoint(path)
        engine = state["engine"]
        if engine["fingerprint"] != self.fingerprint:
            changed = sorted(
                k
                for k in set(engine["fingerprint"]) | set(self.fingerprint)
                if engine["fingerprint"].get(k) != self.fingerprint.get(k)
            )
            raise InputError(
                f"{self.run_dir} holds a search with another config (differs in {changed}); "
                "resume it with the same config or start a new run directory"
            )
        self.history = History.from_state(
            self.strategy.space, engine["rows"], self.history.path, self.history.extra, self.history.board
        )
        self.strategy.load_state_dict(state["strategy"])
        self.step, self.elapsed_before = int(engine["step"]), float(engine["elapsed_s"])
        self.strategy_s, self.final = float(engine["strategy_s"]), dict(engine["final"])
        _set_rng_state(engine["rng"])
        self.resume_path = path
        if self.one_shot:
            log.info("resuming the %s search after epoch %d from %s", self.strategy.name, len(self.history), path)
        else:
            log.info("resumed the search at iteration %d/%d from %s", len(self.history), self.iterations, path)

    def state(self) -> dict[str, Any]:
        """The engine's and the strategy's part of the checkpoint."""
        engine = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "step": self.step,
            "elapsed_s": self.elapsed(),
            "strategy_s": self.strategy_s,
            "rows": self.history.state_dict(),
            "rng": _rng_state(),
            "final": self.final,
        }
        return plain_state({"engine": engine, "strategy": self.strategy.state_dict()})

    def commit(self, trainer: Any = None) -> None:
        """Write the checkpoint (atomically): :meth:`state`, with a one-shot strategy's ``trainer`` through Lightning."""
        if self.checkpoint_path is None:
            return
        with atomic_path(self.checkpoint_path) as tmp:
            if trainer is None:
                torch.save(self.state(), tmp)
            else:  # Lightning's keys (weights, optimisers, loops); the commit callback's on_save_checkpoint adds the engine's
                trainer.save_checkpoint(tmp, weights_only=False)

    def commit_callback(self) -> Any:
        """A Lightning callback committing after every training epoch (a one-shot strategy's step).

        It is a ``Checkpoint``, so Lightning runs it after the LightningModule's epoch-end hook
        (where a one-shot strategy appends the epoch's candidate).
        """
        from pytorch_lightning.callbacks import Checkpoint

        experiment = self

        class _Commit(Checkpoint):
            def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
                experiment.step = len(experiment.history)
                experiment.commit(trainer)

            def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
                checkpoint.update(experiment.state())

        return _Commit()

    # ----------------------------------------------------------------- the search

    def run(self) -> History:
        """Search until the history holds ``iterations`` candidates; returns the history."""
        self._started = time.perf_counter()
        if self.one_shot:
            if len(self.history) < self.iterations:
                cast(OneShotStrategy, self.strategy).search(self)
            return self.history
        strategy = cast(Strategy, self.strategy)  # not one-shot: a sampling strategy
        committed = time.perf_counter()
        with _Progress(self.progress, self.iterations, len(self.history), self.best_reward) as bar:
            while len(self.history) < self.iterations:
                n = min(strategy.batch_size, self.iterations - len(self.history))
                asked = time.perf_counter()
                vectors = strategy.space.check(strategy.ask(n))
                evaluated = time.perf_counter()
                assert self.evaluator is not None  # a sampling search has one (see the class docstring)
                results = self.evaluator(vectors, self.history.reward)
                if results.candidates is not None:  # e.g. each network on its best accelerator (inner_accelerator)
                    vectors = results.candidates
                told = time.perf_counter()
                strategy.tell(vectors, results)
                self.strategy_s += (evaluated - asked) + (time.perf_counter() - told)
                self.step += 1
                first = len(self.history)
                self.history.append(vectors, results, self.step, self.elapsed())
                done = len(self.history) >= self.iterations
                if done or time.perf_counter() - committed >= self.checkpoint_every_s:
                    self.commit()
                    committed = time.perf_counter()
                self._log(first, results)
                bar.update(len(self.history), self.best_reward)
        return self.history

    def final_progress(self) -> FinalProgress:
        """The final step's finished candidates, committed to the checkpoint after each new one."""
        return FinalProgress(self.final, self.commit)

    @property
    def strategy_ms_per_candidate(self) -> float:
        """Mean wall time of the strategy's ask + tell per evaluated candidate (the evaluator excluded)."""
        return 1e3 * self.strategy_s / len(self.history) if len(self.history) else float("nan")

    @property
    def best_reward(self) -> float:
        return float(self.history.reward.max()) if len(self.history) else float("nan")

    def _log(self, first: int, results: Evaluation) -> None:
        """Per-iteration figures, the running best and the strategy's scalars to every logger."""
        if not self.loggers:
            return
        best = np.maximum.accumulate(self.history.reward)[first:]
        extra = cast(Strategy, self.strategy).metrics()  # logged for a sampling strategy only (run)
        for i in range(len(results)):
            metrics = {
                "search/reward": results.reward[i],
                "search/accuracy": results.accuracy[i],
                "search/energy_mj": results.energy_mj[i],
                "search/latency_ms": results.latency_ms[i],
                "search/best_reward": best[i],
                **extra,
            }
            for logger in self.loggers:
                logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=first + i)
        if (len(self.history) // self.histogram_every) > (first // self.histogram_every):
            self._log_histograms(len(self.history) - 1)

    def _log_histograms(self, iteration: int) -> None:
        """Histograms of each decision over the last ``histogram_every`` samples (W&B loggers only)."""
        recent = self.history.vectors[-self.histogram_every :]
        for logger in wandb_loggers(self.loggers):
            import wandb

            space = self.strategy.space
            hists = {
                f"decisions/{name}": wandb.Histogram(np_histogram=np.histogram(recent[:, j], bins=np.arange(v + 1)))
                for j, (name, v) in enumerate(zip(space.names, space.vocab_sizes))
            }
            logger.experiment.log({**hists, "trainer/global_step": iteration})


class _Progress:
    """A rich progress bar with the running best reward (or nothing when disabled)."""

    def __init__(self, enabled: bool, total: int, done: int, best: float):
        self.enabled, self.total, self.done, self.best = enabled, total, done, best
        self.last_logged = done

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("search"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("best R {task.fields[best]:.4f}"),
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("search", total=self.total, completed=self.done, best=self.best)
        return self

    def update(self, done: int, best: float) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=done, best=best)
        if done - self.last_logged >= max(1, self.total // 10) or done == self.total:
            log.info("iteration %d/%d, best reward %.4f", done, self.total, best)
            self.last_logged = done

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
