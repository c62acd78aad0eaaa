"""The two-stage baseline (paper Table 2): a known network first, then the best accelerator for it.

For each known genotype, its accuracy comes from stand-alone training on the configured data
(``model.standalone``; cached per genotype in ``standalone.json`` of the run directory so a
rerun does not retrain), then every accelerator of the config's space is costed with the
reference cost on the target (``reference_cost``, ``target``) and the best one is kept by energy, by latency and by the reward (eq. 2, with the
stand-alone validation accuracy). ``run_two_stage`` writes ``two_stage.csv``, ``two_stage.md``
and ``two_stage.yaml`` into the run directory; ``python two_stage.py`` is its entry point. Each
accuracy comes with its split size (``*_n``) and Wilson 95 % interval (``*_ci95_low``/``_high``).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from yoso.app.table2 import enumerate_costs
from yoso.cache import atomic_write, digest, file_lock
from yoso.config import ConfigError
from yoso.hw.fpga import USAGE_COLUMNS, fps
from yoso.search.final import standalone_result
from yoso.search.reward import Reward
from yoso.space.accelerator import Accelerator
from yoso.space.known import KNOWN_GENOTYPES
from yoso.stats import accuracy_fields, format_accuracy
from yoso.tables import format_table

if TYPE_CHECKING:
    from yoso.app.run import Run

log = logging.getLogger("yoso.app.two_stage")

#: The three selection criteria of the best accelerator of a network, in table order.
CRITERIA = ("energy", "latency", "reward")
#: Split size and Wilson 95 % bounds of each accuracy (columns an older ``two_stage.csv`` lacks).
INTERVAL_COLUMNS = tuple(f"{a}_{k}" for a in ("val_accuracy", "test_accuracy") for k in ("n", "ci95_low", "ci95_high"))
#: Columns an older ``two_stage.csv`` may lack: the intervals and the tiling loop order (blank: none searched).
OPTIONAL_COLUMNS = (*INTERVAL_COLUMNS, "loop_order")
#: Columns of ``two_stage.csv`` (one row per network and criterion).
CSV_COLUMNS = (
    "model",
    "criterion",
    "val_accuracy",
    "test_accuracy",
    *INTERVAL_COLUMNS,
    "error_pct",
    "energy_mj",
    "latency_ms",
    "reward",
    "feasible",
    "accelerator",
    "pe",
    "gbuf_kb",
    "rbuf_bytes",
    "dataflow",
    "loop_order",
    "n_accelerators",
    "enumeration_s",
)
#: Columns a run on an FPGA board adds to ``two_stage.csv``: frames per second and the resource use.
BOARD_COLUMNS = ("fps", *USAGE_COLUMNS)
#: Columns of the Table-2-like markdown (key, header); ``*_text`` cells are added by :func:`two_stage_markdown`.
MD_COLUMNS = (
    ("model", "model"),
    ("error_pct", "error % (test)"),
    ("test_text", "test acc [95 % CI] n"),
    ("val_text", "val acc [95 % CI] n"),
    ("energy_mj", "energy (mJ)"),
    ("latency_ms", "latency (ms)"),
    ("pe", "PEs"),
    ("gbuf_kb", "g_buf (KB)"),
    ("rbuf_bytes", "r_buf (B)"),
    ("dataflow", "dataflow"),
    ("loop_order", "loop order"),
    ("reward", "reward"),
    ("feasible", "feasible"),
)


def check_models(names: Sequence[str] | None, key: str = "two_stage.models") -> list[str]:
    """``names`` if each is a known genotype (exact name), else a ConfigError listing the allowed ones."""
    if names is None or isinstance(names, str) or len(names) == 0:
        raise ConfigError(key, names, f"a non-empty list of names among {list(KNOWN_GENOTYPES)}")
    for i, name in enumerate(names):
        if name not in KNOWN_GENOTYPES:
            raise ConfigError(f"{key}[{i}]", name, f"one of {list(KNOWN_GENOTYPES)}")
    if len(set(names)) != len(names):
        raise ConfigError(key, list(names), "distinct names")
    return list(names)


def best_indices(energy: Any, latency: Any, reward: Any) -> dict[str, int]:
    """Index of the best accelerator by each criterion: least energy, least latency, largest reward.

    NaN never wins; ties go to the first accelerator in enumeration order.
    """
    e, lat, r = (np.asarray(v, dtype=np.float64) for v in (energy, latency, reward))
    if not (e.shape == lat.shape == r.shape) or e.ndim != 1 or e.size == 0:
        raise ValueError(
            f"energy, latency and reward must be equal-length non-empty 1-D arrays, got "
            f"{e.shape}, {lat.shape}, {r.shape}"
        )
    return {
        "energy": int(np.argmin(np.where(np.isnan(e), np.inf, e))),
        "latency": int(np.argmin(np.where(np.isnan(lat), np.inf, lat))),
        "reward": int(np.argmax(np.where(np.isnan(r), -np.inf, r))),
    }


def network_rows(
    model: str,
    accs: Sequence[Accelerator],
    energy: np.ndarray,
    latency: np.ndarray,
    accuracy: Sequence[Any],
    reward: Reward,
) -> list[dict[str, Any]]:
    """The rows of one network: its best accelerator by each criterion with figures and reward.

    ``accuracy`` is ``(val, test, val images, test images)`` (or ``(val, test)``: sizes unknown).
    """
    val, test, val_n, test_n = standalone_result(accuracy)
    intervals = {**accuracy_fields("val_accuracy", val, val_n), **accuracy_fields("test_accuracy", test, test_n)}
    rewards = reward(val, latency, energy)
    feasible = reward.feasible(latency, energy)
    rows = []
    for criterion, i in best_indices(energy, latency, rewards).items():
        acc = accs[i]
        rows.append(
            {
                "model": model,
                "criterion": criterion,
                "val_accuracy": val,
                "test_accuracy": test,
                **intervals,
                "error_pct": 100.0 * (1.0 - test),
                "energy_mj": float(energy[i]),
                "latency_ms": float(latency[i]),
                "reward": float(rewards[i]),
                "feasible": bool(feasible[i]),
                "accelerator": str(acc),
                "pe": f"{acc.pe_rows}x{acc.pe_cols}",
                "gbuf_kb": acc.gbuf_kb,
                "rbuf_bytes": acc.rbuf_bytes,
                "dataflow": acc.dataflow,
                "loop_order": acc.loop_order,
                "n_accelerators": len(accs),
            }
        )
    return rows


def standalone_key(run: Run) -> str:
    """Hash of what a stand-alone accuracy depends on: data, ``model.standalone``, seed, trainer limits."""
    from yoso.app.run import TRAINER_KEYS
    from yoso.nn.modules import macro_cells

    data = {k: v for k, v in run.group("data").items() if k != "num_workers"}
    trainer = {k: run.groups.get("trainer", {}).get(k) for k in TRAINER_KEYS}
    standalone = dict(run.group("model")["standalone"])
    cells = macro_cells(run.groups.get("space"), standalone["cells"])
    if cells != standalone["cells"]:  # an elastic space's macro (keys of the paper's space unchanged)
        standalone["macro_cells"] = cells
    return digest({"data": data, "standalone": standalone, "seed": run.seed, "trainer": trainer})


def cached_accuracy(path: Path, key: str, model: str, train: Callable[[], Sequence[Any]]) -> tuple[Any, ...]:
    """``(val, test, val images, test images)`` of ``model`` from the json cache at ``path`` under ``key``, else
    trained and stored (an older cache's ``[val, test]`` gives None sizes)."""
    cache = json.loads(path.read_text()) if path.is_file() else {}
    if model in cache.get(key, {}):
        val, test, val_n, test_n = standalone_result(cache[key][model])
        log.info(
            "%s: stand-alone accuracy from %s (val %s, test %s)",
            model,
            path,
            format_accuracy(val, val_n),
            format_accuracy(test, test_n),
        )
        return val, test, val_n, test_n
    log.info("%s: training stand-alone", model)
    start = time.perf_counter()
    val, test, val_n, test_n = standalone_result(train())
    elapsed = time.perf_counter() - start
    log.info(
        "%s: stand-alone training took %.1f s (val %s, test %s)",
        model,
        elapsed,
        format_accuracy(val, val_n),
        format_accuracy(test, test_n),
    )
    with file_lock(path):  # re-read under the lock: keep what others wrote meanwhile
        cache = json.loads(path.read_text()) if path.is_file() else {}
        cache.setdefault(key, {})[model] = [val, test, val_n, test_n]
        atomic_write(path, json.dumps(cache, indent=1))
    return val, test, val_n, test_n


def two_stage(
    models: Sequence[str],
    accs: Sequence[Accelerator],
    cost: Callable[[Any], tuple[np.ndarray, np.ndarray]],
    accuracy: Callable[[str], Sequence[Any]],
    reward: Reward,
) -> list[dict[str, Any]]:
    """Rows of every network: ``accuracy(name)`` then ``cost(genotype)`` over ``accs``, best by each criterion."""
    rows = []
    for name in models:
        val_test = accuracy(name)
        start = time.perf_counter()
        energy, latency = cost(KNOWN_GENOTYPES[name])
        elapsed = time.perf_counter() - start
        log.info("%s: %d accelerators enumerated in %.1f s", name, len(accs), elapsed)
        for row in network_rows(name, accs, np.asarray(energy), np.asarray(latency), val_test, reward):
            rows.append({**row, "enumeration_s": elapsed})
    return rows


def accuracy_text(row: Mapping[str, Any], key: str) -> str:
    """``row[key]`` with its 95 % interval and split size (``row[key + "_n"]``), as :func:`format_accuracy`."""
    return format_accuracy(row[key], row.get(f"{key}_n"))


def two_stage_markdown(rows: Sequence[Mapping[str, Any]], reward: Reward) -> str:
    """The Table-2-like markdown: one table per criterion, accuracies with their 95 % interval and split size; the
    loop order column where the accelerators have one."""
    columns = [c for c in MD_COLUMNS if c[0] != "loop_order" or any(r.get("loop_order") for r in rows)]
    titles = {
        "energy": "best accelerator by energy",
        "latency": "best accelerator by latency",
        "reward": f"best accelerator by the reward (eq. 2: {reward})",
    }
    n = rows[0]["n_accelerators"] if rows else 0
    out = [f"# Two-stage baseline: each network on its best of {n} accelerators\n"]
    for c in CRITERIA:
        shown = [
            {**r, "test_text": accuracy_text(r, "test_accuracy"), "val_text": accuracy_text(r, "val_accuracy")}
            for r in rows
            if r["criterion"] == c
        ]
        out += [f"## {titles[c]}\n", format_table(shown, columns, markdown=True)]
    return "\n".join(out)


def write_outputs(run_dir: Path, rows: Sequence[Mapping[str, Any]], reward: Reward, extra: Mapping[str, Any]) -> None:
    """``two_stage.csv``, ``two_stage.md`` and ``two_stage.yaml`` in ``run_dir``."""
    board_columns = BOARD_COLUMNS if rows and "fps" in rows[0] else ()
    with open(run_dir / "two_stage.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=(*CSV_COLUMNS, *board_columns))
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "two_stage.md").write_text(two_stage_markdown(rows, reward))
    doc = {**extra, "reward_config": dict(vars(reward)), "rows": [dict(r) for r in rows]}
    (run_dir / "two_stage.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def run_two_stage(cfg: Any) -> list[dict[str, Any]]:
    """The two-stage flow of a composed ``two_stage`` config; writes its outputs to ``paths.output_dir``.

    Every accelerator of the run's space is costed by the reference cost on the target: on an FPGA board
    (``target=zcu102``, ...) the figures are the board's (its power; ``inf`` where a design does not fit).
    """
    import pytorch_lightning as pl

    from yoso.app.run import present, validate_config

    run = validate_config(cfg, require=("space", "accelerator", "reward", "hw", "data", "model"))
    space, hw, reward = present(run.space, "space"), present(run.hw, "hw"), present(run.reward, "reward")
    models = check_models(run.groups.get("two_stage", {}).get("models"))
    run_dir = run.output_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(run.seed, workers=True, verbose=False)
    accs = space.accelerators.all()
    reference = run.reference_cost()
    target = run.board.name if run.board is not None else f"ASIC {hw.tech.name}"
    log.info("two-stage baseline: %d networks x %d accelerators (%s, %s)", len(models), len(accs), target, reward)

    key = standalone_key(run)
    train = run.standalone_trainer(run_dir / "standalone")  # builds the datamodule only when a network trains

    def accuracy(name: str) -> tuple[Any, ...]:
        return cached_accuracy(run_dir / "standalone.json", key, name, lambda: train(KNOWN_GENOTYPES[name]))

    rows = two_stage(models, accs, lambda g: enumerate_costs(g, accs, reference), accuracy, reward)
    if run.board is not None:  # the board's figures: frames per second and the design's exact resource use
        by_name = {str(a): a for a in accs}
        for row in rows:
            row.update(fps=float(fps(row["latency_ms"])), **run.board.usage([by_name[row["accelerator"]]]).row(0))
    write_outputs(
        run_dir,
        rows,
        reward,
        {
            "models": models,
            "n_accelerators": len(accs),
            "target": target,
            "tech": hw.tech.name,
            "deploy": run.group("hw")["deploy"],
            "standalone_key": key,
        },
    )
    cols: tuple[str, ...] = ("model", "criterion", "test_accuracy", "energy_mj", "latency_ms")
    cols += ("fps", "dsp", "bram36") if run.board is not None else ()
    cols += ("accelerator", "reward", "enumeration_s")
    log.info("two-stage baseline on %s:\n%s", target, format_table(rows, cols))
    log.info("wrote %s, %s, %s", *(run_dir / f"two_stage.{x}" for x in ("csv", "md", "yaml")))
    return rows
