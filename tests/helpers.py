"""What the tests share: the repository's configs composed for tests, the config tree's options, and the fake
evaluator and small strategies of the search-loop tests. Test modules import from here, never from each other."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("YOSO_ROOT", str(ROOT))

import yoso.app.cli  # noqa: E402,F401  (registers the typed config schemas in Hydra's ConfigStore)
from yoso.search.constraints import Constraints  # noqa: E402
from yoso.search.engine import Experiment  # noqa: E402
from yoso.search.evaluator import CandidateEvaluator  # noqa: E402
from yoso.search.reward import Reward  # noqa: E402
from yoso.search.strategy import Strategy, build_strategy  # noqa: E402

#: The session's temporary folder for what composed configs write (set by conftest's ``scratch`` fixture).
_scratch: list[Path] = []


def use_scratch(folder: Path) -> None:
    """Point the caches and logs of every config composed from now on into ``folder`` (a pytest temporary folder)."""
    _scratch[:] = [folder]


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The config ``name`` (search/train/two_stage) composed with the smoke experiment and ``overrides``.

    ``paths.cache_dir`` and ``paths.log_dir`` point into the session's temporary folder (``overrides`` may
    set them again), so a test that builds a HyperNet or a GP never writes into the repository.
    """
    scratch = [f"paths.cache_dir={_scratch[0] / 'cache'}", f"paths.log_dir={_scratch[0] / 'logs'}"] if _scratch else []
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name=name, overrides=["experiment=smoke", *scratch, *(overrides or [])])


def synthetic_table(path: Path, space: Any, key: str, n: int = 30) -> Path:
    """An accuracy table of ``n`` architectures of ``space`` (drawn with seed 3) for stand-alone config ``key``, with
    a synthetic accuracy of width and depth: ``0.8 + 0.04 width - 0.03 depth``."""
    from yoso.bench import TableRow, architecture_id
    from yoso.bench.table import merge_rows, row_record

    genotypes = [g for g, _ in space.decode_many(space.sample(n, 3))]
    lines = [
        row_record(
            g.to_dict(),
            TableRow(architecture_id(g), i, 0, 0.8 + 0.04 * g.width - 0.03 * g.depth, 0.8, 1000, 1000, 1.0),
            key,
        )
        for i, g in enumerate(genotypes)
    ]
    return merge_rows("synthetic", key, {}, lines).write(path)


def smoke_key() -> str:
    """The stand-alone config hash of the smoke search (what an accuracy table must hold for its runs)."""
    from yoso.app.run import validate_config

    return validate_config(compose_config("search", ["accuracy_model=hypernet"])).standalone_key


def plain(node: Any) -> Any:
    """A composed config node as plain resolved data (what the app layer hands the layers below it)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True)


def space_of(cfg: Any) -> Any:
    """The joint space of a composed config's ``space`` and ``accelerator`` nodes."""
    from yoso.space.joint import JointSpace

    return JointSpace.from_config(cfg["space"], cfg["accelerator"])


def supernet_of(cfg: Any) -> Any:
    """A fresh HyperNet module of a composed config's ``model``, ``space``, ``accelerator``, ``data`` and ``seed``."""
    from yoso.nn import SupernetModule

    return SupernetModule.from_groups(cfg.model, cfg.space, cfg.accelerator, cfg.data, cfg.seed)


def reference_of(space: Any, deploy: Any = None, tech: Any = None) -> Any:
    """The simulator as a reference cost of ``space`` (default deployment macro and technology unless given)."""
    from yoso.hw import Deploy, load_tech
    from yoso.predictor.cost import HwSetup, SimulatorCostModel
    from yoso.predictor.settings import PredictorConfig

    return SimulatorCostModel(HwSetup(space, deploy or Deploy(), tech or load_tech(), PredictorConfig()))


def options(group: str) -> tuple[str, ...]:
    """The options of a config group: the stems of ``conf/<group>/*.yaml``, sorted."""
    return tuple(sorted(path.stem for path in (CONF / group).glob("*.yaml")))


#: The entry points' configs (conf/*.yaml: search, train, two_stage) and every experiment (conf/experiment).
ENTRY_CONFIGS = options(".")
EXPERIMENTS = options("experiment")
#: Experiments of one entry point only (they override a group only that entry point has, e.g. accuracy_model).
EXPERIMENT_ENTRIES = {"paper_scale": ("search",)}
#: The class each strategy option builds (its ``_target_``), for every conf/strategy/*.yaml.
STRATEGY_CLASSES: dict[str, type] = {
    kind: get_class(compose_config("search", [f"strategy={kind}"]).strategy._target_) for kind in options("strategy")
}
#: Every strategy option; the sampling ones (ask/tell through the engine; not the one-shot strategies).
ALL_STRATEGIES = tuple(STRATEGY_CLASSES)
STRATEGIES = tuple(kind for kind, cls in STRATEGY_CLASSES.items() if issubclass(cls, Strategy))

REWARD = Reward(0.5, -0.4, 0.5, -0.4)
#: Overrides that make a sampling strategy small enough for a 30-sample run (none: its YAML as it is).
SMALL = {
    "reinforce": ["strategy.lstm_hidden=8", "strategy.lr=0.01"],
    "evolution": ["strategy.population_size=6", "strategy.sample_size=3"],
    "tpe": ["strategy.n_startup_trials=5"],
    "nsga2": ["strategy.population_size=6"],
    "cmaes": ["strategy.n_startup_trials=5"],
    "qnehvi": [
        "strategy.pool_size=60",
        "strategy.initial_samples=6",
        "strategy.mc_samples=4",
        "strategy.shortlist=12",
        "strategy.fit_iterations=8",
        "strategy.n_components=8",
    ],
}
#: The key that sets how many candidates a strategy proposes per loop step.
STEP_KEY = {"qnehvi": "batch_size"}
Rows = list[dict[str, str]]


def fake_accuracy(v: np.ndarray) -> np.ndarray:
    """Deterministic 'accuracy': the fraction of zero DNN decisions."""
    return (v[:, :40] == 0).mean(1)


def fake_hardware(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic energy (mJ) from the PE-array choice and latency (ms) from the dataflow choice."""
    return 5.0 + v[:, -4], 1.0 + 0.1 * v[:, -1]


def make_loop(
    kind: str,
    space,
    run_dir: Path | None,
    iterations: int,
    seed: int = 0,
    samples_per_step: int = 3,
    constraints: Constraints | None = None,
    hardware: Any = fake_hardware,
    **kwargs: Any,
) -> Experiment:
    """A quiet Experiment of a small strategy (built from its YAML) on the fake evaluator (``hardware``: its
    energy and latency of candidates, by default :func:`fake_hardware`)."""
    overrides = [
        f"strategy={kind}",
        *SMALL.get(kind, []),
        f"strategy.{STEP_KEY.get(kind, 'samples_per_step')}={samples_per_step}",
    ]
    strategy = build_strategy(plain(compose_config("search", overrides).strategy), space, seed, constraints)
    evaluator = CandidateEvaluator(fake_accuracy, hardware, REWARD, constraints=constraints)
    return Experiment(strategy, evaluator, iterations, run_dir, progress=False, **kwargs)


def load_benchmark(name: str) -> Any:
    """The module of ``benchmarks/<name>.py`` (imported once), for tests of a benchmark's functions."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def read_rows(path: Path, wall_time: bool = False) -> Rows:
    """The rows of a history CSV as dicts (without wall_time_s unless asked: it is the only non-deterministic column)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not wall_time:
        for row in rows:
            del row["wall_time_s"]
    return rows


def run_entry(script: str, tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python <script> overrides`` (search.py, train.py, ...) run in ``tmp_path`` as its Hydra run directory."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), f"hydra.run.dir={tmp_path}", "logger=none", *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
