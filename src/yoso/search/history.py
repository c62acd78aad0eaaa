"""Every evaluated sample of a search, in memory and appended to ``history.csv`` as it comes.

One row per candidate: iteration, engine step, every decision (44, or 46 in the elastic space; one column each, named as
in the joint space), the decoded genotype (JSON) and accelerator, A, e (mJ), l (ms), R,
whether it meets the run's thresholds (1/0, empty if not judged), the number of validation
images its accuracy was measured on (empty if not recorded) and the wall time since the
search started; on an FPGA board (``target=zcu102``, ...) also each design's exact resource use
(DSP, BRAM36, UltraRAM, LUT, FF, each as a count and % of the device, and whether it fits).
Rows are flushed at once. The file is an output: the engine's checkpoint holds
the rows (:meth:`History.state_dict`) and a resumed search rewrites the file from them
(:meth:`History.from_state`), so it never repeats or loses a sample; :meth:`History.open` reads
a file back.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yoso.cache import atomic_path
from yoso.hw.fpga import USAGE_COLUMNS, Board
from yoso.search.strategy import Evaluation
from yoso.space.joint import JointSpace

#: The metric columns after the decisions, in file order.
METRICS = ("accuracy", "energy_mj", "latency_ms", "reward")
#: Columns a file written by an older yoso may lack (read as empty).
OPTIONAL = ("feasible", "val_images")


@dataclass
class History:
    """The samples of one search: decision vectors and their figures, written to a CSV file as they come."""

    space: JointSpace
    path: Path | None = None
    vectors: np.ndarray = field(default=None)  # type: ignore[arg-type]
    figures: dict[str, np.ndarray] = field(default_factory=dict)
    steps: np.ndarray = field(default=None)  # type: ignore[arg-type]
    wall_time_s: np.ndarray = field(default=None)  # type: ignore[arg-type]
    feasible: np.ndarray = field(default=None)  # type: ignore[arg-type]  # 1.0 / 0.0 / nan (not judged)
    val_images: np.ndarray = field(default=None)  # type: ignore[arg-type]  # images behind each accuracy / nan
    extra: tuple[str, ...] = ()  # further figure columns a strategy records (e.g. simulated cost), after the rest
    board: Board | None = None  # an FPGA board: each row also shows its design's resource use (USAGE_COLUMNS)

    def __post_init__(self) -> None:
        self.extra = tuple(self.extra)
        if self.vectors is None:
            self.vectors = np.zeros((0, len(self.space)), dtype=np.int64)
            self.steps = np.zeros(0, dtype=np.int64)
            self.wall_time_s = np.zeros(0)
            self.feasible = np.zeros(0)
            self.val_images = np.zeros(0)
            self.figures = {name: np.zeros(0) for name in (*METRICS, *self.extra)}

    @property
    def columns(self) -> list[str]:
        usage = USAGE_COLUMNS if self.board is not None else ()
        return [
            "iteration",
            "step",
            *self.space.names,
            "genotype",
            "accelerator",
            *METRICS,
            "feasible",
            "val_images",
            "wall_time_s",
            *self.extra,
            *usage,
        ]

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def accuracy(self) -> np.ndarray:
        return self.figures["accuracy"]

    @property
    def energy_mj(self) -> np.ndarray:
        return self.figures["energy_mj"]

    @property
    def latency_ms(self) -> np.ndarray:
        return self.figures["latency_ms"]

    @property
    def reward(self) -> np.ndarray:
        return self.figures["reward"]

    def evaluation(self) -> Evaluation:
        """All figures as one :class:`Evaluation` (``feasible`` None if any sample was not judged)."""
        feasible = None if np.isnan(self.feasible).any() else self.feasible.astype(bool)
        images = None if np.isnan(self.val_images).any() else self.val_images.astype(np.int64)
        accuracy, energy_mj, latency_ms, reward = (self.figures[name] for name in METRICS)
        return Evaluation(accuracy, energy_mj, latency_ms, reward, feasible, images)

    # ----------------------------------------------------------------- writing

    def append(
        self,
        vectors: np.ndarray,
        results: Evaluation,
        step: int,
        wall_time_s: float,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Add a batch (in memory and, with a path, as flushed CSV rows); ``extra`` gives the extra columns."""
        vectors = self.space.check(vectors)
        start = len(self)
        feasible = np.full(len(vectors), np.nan) if results.feasible is None else np.asarray(results.feasible, float)
        images = np.full(len(vectors), np.nan) if results.val_images is None else np.asarray(results.val_images, float)
        extra = {name: np.asarray((extra or {}).get(name, np.full(len(vectors), np.nan)), float) for name in self.extra}
        self.vectors = np.concatenate([self.vectors, vectors])
        self.steps = np.concatenate([self.steps, np.full(len(vectors), step, dtype=np.int64)])
        self.wall_time_s = np.concatenate([self.wall_time_s, np.full(len(vectors), wall_time_s)])
        self.feasible = np.concatenate([self.feasible, feasible])
        self.val_images = np.concatenate([self.val_images, images])
        for name in METRICS:
            self.figures[name] = np.concatenate([self.figures[name], np.asarray(getattr(results, name), float)])
        for name, values in extra.items():
            self.figures[name] = np.concatenate([self.figures[name], values])
        if self.path is not None:
            new_file = not self.path.exists() or self.path.stat().st_size == 0
            self._write(self.path, "a", start, header=new_file)

    def _write(self, path: Path, mode: str, start: int, header: bool) -> None:
        """Write rows ``start:`` (after the header if asked) to ``path`` opened in ``mode``, flushed to disk."""
        with path.open(mode, newline="") as handle:
            writer = csv.writer(handle)
            if header:
                writer.writerow(self.columns)
            for i in range(start, len(self)):
                genotype, accelerator = self.space.decode(self.vectors[i])
                figures = [repr(float(self.figures[name][i])) for name in METRICS]
                judged = "" if np.isnan(self.feasible[i]) else int(self.feasible[i])
                seen = "" if np.isnan(self.val_images[i]) else int(self.val_images[i])
                writer.writerow(
                    [
                        i,
                        int(self.steps[i]),
                        *self.vectors[i].tolist(),
                        genotype.to_json(),
                        str(accelerator),
                        *figures,
                        judged,
                        seen,
                        f"{self.wall_time_s[i]:.3f}",
                        *(repr(float(self.figures[name][i])) for name in self.extra),
                        *self._usage(accelerator, genotype.widest_bits),
                    ]
                )
            handle.flush()
            os.fsync(handle.fileno())

    def _usage(self, accelerator: Any, bits: int | None) -> list[str]:
        """The resource-use cells of a row (none without a board), its datapath ``bits`` wide."""
        if self.board is None:
            return []
        row = self.board.usage([accelerator], bits).row(0)
        return [f"{row[c]:.4g}" if c.endswith("_pct") else str(int(row[c])) for c in USAGE_COLUMNS]

    def state_dict(self) -> dict[str, Any]:
        """The rows as arrays (decisions as int16: every vocabulary is small), for the engine's checkpoint."""
        return {
            "vectors": self.vectors.astype(np.int16),
            "steps": self.steps,
            "wall_time_s": self.wall_time_s,
            "feasible": self.feasible,
            "val_images": self.val_images,
            "figures": dict(self.figures),
        }

    @classmethod
    def from_state(
        cls,
        space: JointSpace,
        state: Mapping[str, Any],
        path: str | Path | None = None,
        extra: tuple[str, ...] = (),
        board: Board | None = None,
    ) -> History:
        """The history of a :meth:`state_dict`; with a path, the file is rewritten to hold exactly these rows."""
        history = cls(
            space,
            None if path is None else Path(path),
            space.check(np.asarray(state["vectors"], np.int64)),
            {name: np.asarray(state["figures"][name], float) for name in (*METRICS, *extra)},
            np.asarray(state["steps"], np.int64),
            np.asarray(state["wall_time_s"], float),
            np.asarray(state["feasible"], float),
            np.asarray(state["val_images"], float),
            extra,
            board,
        )
        history.rewrite()
        return history

    def rewrite(self) -> None:
        """Replace the file by the rows in memory (atomically; a header alone when there are none)."""
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            self._write(tmp, "w", 0, header=True)

    # ----------------------------------------------------------------- reading

    @classmethod
    def open(
        cls, path: str | Path, space: JointSpace, extra: tuple[str, ...] = (), board: Board | None = None
    ) -> History:
        """The history at ``path`` (empty if missing), its complete rows (file rewritten: a line cut by a kill dropped)."""
        file = Path(path)
        history = cls(space, file, extra=extra, board=board)
        if not file.exists():
            return history
        text = file.read_text()
        text = text[: text.rfind("\n") + 1]  # a line cut by a kill has no newline (rows hold none inside)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, body = (rows[0], rows[1:]) if rows else (history.columns, [])
        missing = [c for c in history.columns if c not in header]
        if missing and set(missing) <= set(OPTIONAL) and header == [c for c in history.columns if c in header]:
            at = {name: i for i, name in enumerate(header)}  # written before those columns existed: empty
            header, body = history.columns, [[row[at[c]] if c in at else "" for c in history.columns] for row in body]
        if header != history.columns:
            raise ValueError(f"{path}: its columns do not match this search space (was it written by another config?)")
        index = {name: i for i, name in enumerate(header)}
        if body:
            d0 = index[space.names[0]]
            history.vectors = space.check(np.array([row[d0 : d0 + len(space)] for row in body], dtype=np.int64))
            history.steps = np.array([int(row[index["step"]]) for row in body], dtype=np.int64)
            history.wall_time_s = np.array([float(row[index["wall_time_s"]]) for row in body])
            history.feasible = np.array([float(row[index["feasible"]] or "nan") for row in body])
            history.val_images = np.array([float(row[index["val_images"]] or "nan") for row in body])
            history.figures = {name: np.array([float(row[index[name]]) for row in body]) for name in (*METRICS, *extra)}
        history.rewrite()
        return history
