"""Build and merge yoso's stand-alone accuracy table (``python bench.py``; the table: :mod:`yoso.bench`).

A build trains, for its slice of the architectures drawn from the space, each architecture stand-alone with each
seed (:meth:`yoso.app.run.Run.standalone_trainer`: the final step's training) and appends one JSON line per
(architecture, seed) to ``bench.out/rows-<slice>-of-<slices>.jsonl``, flushed and synced, so a rerun after an
interruption trains only what is missing. The merge reads every slice's lines of this config's hash and writes
the table. The config hash covers what a stand-alone accuracy depends on except the seed: the data (its split
sizes and resolution), ``model.standalone``, the trainer's limits and the space.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yoso.app.run import present, validate_config
from yoso.bench.table import BenchTable, TableRow, append_jsonl, architecture_id, merge_rows, read_jsonl, row_record
from yoso.config import ConfigError, check_choice, check_int, check_keys, check_nonempty_unique
from yoso.stats import format_accuracy

log = logging.getLogger("yoso.bench")

MODES = ("build", "merge")


@dataclass(frozen=True)
class BenchSettings:
    """The ``bench`` node: what to build (mode, table name, draw, seeds), this process's slice, where to write."""

    mode: str
    name: str
    archs: int
    arch_seed: int
    indices: tuple[int, ...] | None  # the architectures of the draw this build trains (None: all)
    seeds: tuple[int, ...]
    slices: int
    slice: int
    out: Path
    table: Path

    @classmethod
    def from_config(cls, node: Mapping[str, Any]) -> BenchSettings:
        check_keys("bench", node, [f for f in cls.__dataclass_fields__])
        seeds = tuple(
            check_int("bench.seeds[]", s, 0, 2**32 - 1) for s in check_nonempty_unique("bench.seeds", node.get("seeds"))
        )
        slices = check_int("bench.slices", node.get("slices"), 1)
        archs = check_int("bench.archs", node.get("archs"), 1)
        indices = node.get("indices")
        if isinstance(indices, str):  # "start:stop", a slice of the draw
            start, _, stop = indices.partition(":")
            if not (start.strip().isdigit() and stop.strip().isdigit()):
                raise ConfigError("bench.indices", indices, "a list of indices of the draw, or 'start:stop'")
            indices = list(range(int(start), int(stop)))
        if indices is not None:
            indices = tuple(
                check_int("bench.indices[]", i, 0, archs - 1) for i in check_nonempty_unique("bench.indices", indices)
            )
        name = node.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError("bench.name", name, "a table name (letters, digits, '_'; no '/')")
        return cls(
            mode=check_choice("bench.mode", node.get("mode"), MODES),
            name=name,
            archs=archs,
            indices=indices,
            arch_seed=check_int("bench.arch_seed", node.get("arch_seed"), 0, 2**32 - 1),
            seeds=seeds,
            slices=slices,
            slice=check_int("bench.slice", node.get("slice"), 0, slices - 1),
            out=Path(str(node.get("out"))),
            table=Path(str(node.get("table"))),
        )


def read_lines(out: Path) -> Iterator[dict[str, Any]]:
    """Every line of every slice's rows file in ``out`` (a line cut by a kill is skipped)."""
    for path in sorted(out.glob("rows-*.jsonl")):
        yield from read_jsonl(path)


def read_rows_table(out: Path) -> BenchTable | None:
    """The rows in ``out`` of their most common config hash as a table (its ``records()`` pool the seeds of each
    architecture); None without rows."""
    lines = list(read_lines(out))
    if not lines:
        return None
    key = Counter(line["key"] for line in lines).most_common(1)[0][0]
    return merge_rows(out.name, key, {}, lines)


def _seeded(cfg: Any, seed: int) -> Any:
    """The composed config with another seed (the data splits follow it: ``data.seed: ${seed}``)."""
    other = copy.deepcopy(cfg)
    other.seed = seed
    return other


def build(cfg: Any, settings: BenchSettings) -> dict[str, Any]:
    """Train this slice's missing (architecture, seed) pairs, appending each result as soon as it is known."""
    run = validate_config(cfg, require=("space", "accelerator", "data", "model"))
    space = present(run.space, "space")
    key = run.standalone_key
    genotypes = [
        g for g, _ in space.decode_many(space.sample(settings.archs, np.random.default_rng(settings.arch_seed)))
    ]
    drawn = settings.indices if settings.indices is not None else range(settings.archs)
    mine = [i for k, i in enumerate(drawn) if k % settings.slices == settings.slice]
    settings.out.mkdir(parents=True, exist_ok=True)
    rows_path = settings.out / f"rows-{settings.slice}-of-{settings.slices}.jsonl"
    done = {(line["arch"], line["seed"]) for line in read_lines(settings.out) if line.get("key") == key}
    todo = [(i, s) for i in mine for s in settings.seeds if (architecture_id(genotypes[i]), s) not in done]
    log.info(
        "accuracy table %s (config %s): slice %d of %d holds %d architectures x %d seeds; %d already trained, %d to "
        "train -> %s",
        settings.name,
        key,
        settings.slice,
        settings.slices,
        len(mine),
        len(settings.seeds),
        len(mine) * len(settings.seeds) - len(todo),
        len(todo),
        rows_path,
    )
    trainers = {}
    start = time.perf_counter()
    for count, (i, seed) in enumerate(todo, 1):
        if seed not in trainers:
            trainers[seed] = validate_config(_seeded(cfg, seed)).standalone_trainer(run.output_dir / f"seed{seed}")
        genotype, t0 = genotypes[i], time.perf_counter()
        val, test, val_n, test_n = trainers[seed](genotype)
        row = TableRow(architecture_id(genotype), i, seed, val, test, val_n, test_n, round(time.perf_counter() - t0, 2))
        append_jsonl(rows_path, row_record(genotype.to_dict(), row, key))
        elapsed = time.perf_counter() - start
        log.info(
            "%d/%d: architecture %d (width %g, depth %.2f), seed %d: val %s, test %s, %.1f s; ETA %.0f min",
            count,
            len(todo),
            i,
            genotype.width,
            genotype.depth,
            seed,
            format_accuracy(val, val_n),
            format_accuracy(test, test_n),
            row.train_s,
            elapsed / count * (len(todo) - count) / 60,
        )
    return {"key": key, "trained": len(todo), "rows": str(rows_path)}


def merge(cfg: Any, settings: BenchSettings) -> dict[str, Any]:
    """Write the table of every slice's rows of this config's hash to ``bench.table``."""
    run = validate_config(cfg, require=("space", "accelerator", "data", "model"))
    config, key = run.standalone_config(), run.standalone_key
    table = merge_rows(
        settings.name,
        key,
        {**config, "archs": settings.archs, "arch_seed": settings.arch_seed},
        read_lines(settings.out),
    )
    if not table.rows:
        raise ConfigError(
            "bench.out", str(settings.out), f"a folder holding rows of config {key} (python bench.py first)"
        )
    path = table.write(settings.table)
    records = table.records()
    val = np.array([r.val_accuracy for r in records.values()])
    log.info(
        "accuracy table %s: %d architectures, %d rows (config %s), val accuracy %.4f-%.4f -> %s (%.1f KB)",
        settings.name,
        len(table),
        len(table.rows),
        key,
        val.min(),
        val.max(),
        path,
        path.stat().st_size / 1024,
    )
    return {"key": key, "architectures": len(table), "rows": len(table.rows), "table": str(path)}


def run_bench(cfg: Any) -> dict[str, Any]:
    """``python bench.py``: build this slice's rows or merge them, as ``bench.mode`` says."""
    from yoso.config import plain_groups

    settings = BenchSettings.from_config(plain_groups(cfg, "bench")["bench"])
    return build(cfg, settings) if settings.mode == "build" else merge(cfg, settings)
