"""The search loop (DESIGN §1 step 2): ask -> evaluate -> tell -> checkpoint -> history, for any strategy.

After each step the strategy's state, the sample count and that step's results go to one
atomically replaced checkpoint, then the rows go to ``history.csv``. A killed search,
started again on the same run directory, reloads both: rows the checkpoint does not vouch
for are dropped, the step it holds but the file missed is written, and the loop goes on, so
every iteration is in the history exactly once and no evaluated step is redone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yoso.search.evaluator import CandidateEvaluator
from yoso.search.history import History
from yoso.search.strategy import Evaluation, Strategy

log = logging.getLogger("yoso")

#: Bumped when the checkpoint layout changes.
CHECKPOINT_VERSION = 1


class SearchLoop:
    """Runs ``iterations`` candidate evaluations of ``strategy`` with checkpoints, logging and progress."""

    def __init__(
        self,
        strategy: Strategy,
        evaluator: CandidateEvaluator,
        iterations: int,
        run_dir: str | Path | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        loggers: Sequence[Any] = (),
        progress: bool = True,
        histogram_every: int = 50,
    ):
        self.strategy, self.evaluator, self.iterations = strategy, evaluator, int(iterations)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.fingerprint = dict(fingerprint or {})
        self.loggers, self.progress, self.histogram_every = list(loggers), progress, int(histogram_every)
        space = strategy.space
        self.history = History(space, self.run_dir / "history.csv" if self.run_dir else None)
        self.step = 0
        self.elapsed_before = 0.0
        self.strategy_s = 0.0  # wall time spent in ask + tell (the strategy's own overhead), resumed too
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        strategy.bind(self.run_dir)
        if self.run_dir is not None:
            self._resume()

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "search_state.pt" if self.run_dir else None

    # ----------------------------------------------------------------- checkpoints

    def _resume(self) -> None:
        path = self.checkpoint_path
        if not path.exists():
            self.history = History.open(self.history.path, self.strategy.space, keep=0)
            return
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path}: checkpoint version {state.get('version')}, this yoso writes {CHECKPOINT_VERSION}")
        if state["fingerprint"] != self.fingerprint:
            changed = sorted(k for k in set(state["fingerprint"]) | set(self.fingerprint)
                             if state["fingerprint"].get(k) != self.fingerprint.get(k))  # fmt: skip
            raise ValueError(f"{self.run_dir} holds a search with another config (differs in {changed}); "
                             "resume it with the same config or start a new run directory")  # fmt: skip
        done, last = int(state["done"]), state["last"]
        on_file = len(History.open(self.history.path, self.strategy.space))
        self.history = History.open(self.history.path, self.strategy.space, keep=min(on_file, done))
        if len(self.history) == done - len(last["vectors"]):  # killed between checkpoint and history
            self.history.append(last["vectors"], Evaluation(**last["results"]), last["step"], last["wall_time_s"])
        if len(self.history) != done:
            raise ValueError(f"{self.history.path}: {len(self.history)} rows, the checkpoint needs {done}")
        self.strategy.load_state_dict(state["strategy"])
        self.step, self.elapsed_before = int(state["step"]), float(state["elapsed_s"])
        self.strategy_s = float(state.get("strategy_s", 0.0))
        log.info("resumed the search at iteration %d/%d from %s", done, self.iterations, path)

    def _save(self, vectors: np.ndarray, results: Evaluation, wall_time_s: float) -> None:
        last = {"vectors": vectors, "step": self.step, "wall_time_s": wall_time_s,
                "results": {k: np.asarray(v) for k, v in vars(results).items() if v is not None}}  # fmt: skip
        state = {"version": CHECKPOINT_VERSION, "fingerprint": self.fingerprint, "done": len(self.history) + len(vectors),
                 "step": self.step, "elapsed_s": wall_time_s, "strategy_s": self.strategy_s,
                 "strategy": self.strategy.state_dict(), "last": last}  # fmt: skip
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    # ----------------------------------------------------------------- the loop

    def run(self) -> History:
        """Evaluate candidates until the history holds ``iterations`` of them; returns the history."""
        start = time.perf_counter() - self.elapsed_before
        with _Progress(self.progress, self.iterations, len(self.history), self.best_reward) as bar:
            while len(self.history) < self.iterations:
                n = min(self.strategy.batch_size, self.iterations - len(self.history))
                asked = time.perf_counter()
                vectors = self.strategy.space.check(self.strategy.ask(n))
                evaluated = time.perf_counter()
                results = self.evaluator(vectors, self.history.reward)
                told = time.perf_counter()
                self.strategy.tell(vectors, results)
                self.strategy_s += (evaluated - asked) + (time.perf_counter() - told)
                self.step += 1
                wall = time.perf_counter() - start
                if self.run_dir is not None:
                    self._save(vectors, results, wall)
                first = len(self.history)
                self.history.append(vectors, results, self.step, wall)
                self._log(first, results)
                bar.update(len(self.history), self.best_reward)
        return self.history

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
        extra = self.strategy.metrics()
        for i in range(len(results)):
            metrics = {"search/reward": results.reward[i], "search/accuracy": results.accuracy[i],
                       "search/energy_mj": results.energy_mj[i], "search/latency_ms": results.latency_ms[i],
                       "search/best_reward": best[i], **extra}  # fmt: skip
            for logger in self.loggers:
                logger.log_metrics({k: float(v) for k, v in metrics.items()}, step=first + i)
        if (len(self.history) // self.histogram_every) > (first // self.histogram_every):
            self._log_histograms(len(self.history) - 1)

    def _log_histograms(self, iteration: int) -> None:
        """Histograms of each decision over the last ``histogram_every`` samples (W&B loggers only)."""
        recent = self.history.vectors[-self.histogram_every :]
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if type(logger).__name__ != "WandbLogger" or experiment is None:
                continue
            import wandb

            space = self.strategy.space
            hists = {f"decisions/{name}": wandb.Histogram(np_histogram=np.histogram(recent[:, j], bins=np.arange(v + 1)))
                     for j, (name, v) in enumerate(zip(space.names, space.vocab_sizes))}  # fmt: skip
            experiment.log({**hists, "trainer/global_step": iteration})


class _Progress:
    """A rich progress bar with the running best reward (or nothing when disabled)."""

    def __init__(self, enabled: bool, total: int, done: int, best: float):
        self.enabled, self.total, self.done, self.best = enabled, total, done, best
        self.last_logged = done

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), TextColumn("best R {task.fields[best]:.4f}"))  # fmt: skip
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
