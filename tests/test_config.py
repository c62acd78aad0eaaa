"""The Hydra config tree composes, and every kind of bad value stops start-up with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ENTRY_CONFIGS, ROOT, compose_config, run_entry
from omegaconf import OmegaConf

from yoso.app.cli import CONFIG_ERROR_EXIT, schema_name
from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.reference import paper_results
from yoso.space.accelerator import PAPER_DATAFLOWS
from yoso.space.ops import YOSO_OPS

PAPER = paper_results()


@pytest.mark.parametrize("name", ENTRY_CONFIGS)
def test_default_configs_compose_and_validate(name: str) -> None:
    cfg = compose_config(name)
    setup = validate_config(cfg)
    assert setup.cells is not None and setup.cells.ops == YOSO_OPS and setup.cells.num_nodes == 5
    if name == "search":
        assert setup.space is not None and len(setup.space) == 46 and setup.space.elastic and setup.reward is not None
    assert cfg.data.name == "digits"
    assert cfg.logger == {}  # the smoke experiment turns the logger off


def test_default_logger_is_wandb_offline() -> None:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="search")
    assert cfg.logger.wandb.offline is True
    assert cfg.logger.wandb._target_.endswith("WandbLogger")


@pytest.mark.parametrize("preset", ["balanced", "energy", "latency"])
def test_reward_presets_are_the_papers(preset: str) -> None:
    setup = validate_config(compose_config("search", [f"reward={preset}"]))
    expected = PAPER["reward_presets"][preset]
    for key, value in expected.items():
        assert getattr(setup.reward, key) == value, (preset, key)
    assert setup.reward.t_lat_ms == PAPER["thresholds"]["latency_ms"]
    assert setup.reward.t_eer_mj == PAPER["thresholds"]["energy_mj"]


def test_accelerator_choices_cover_the_papers_configurations() -> None:
    space = validate_config(compose_config("search")).space.accelerators
    for row in PAPER["table2"]:
        rows, cols = map(int, row["pe"].split("x"))
        assert (rows, cols) in space.options("pe_array"), row
        assert row["gbuf_kb"] in space.options("gbuf_kb") and row["rbuf_b"] in space.options("rbuf_bytes"), row
    assert space.options("dataflow") == PAPER_DATAFLOWS
    assert (8, 8) in space.options("pe_array") and (16, 32) in space.options("pe_array")
    assert min(space.options("gbuf_kb")) == 108 and max(space.options("gbuf_kb")) == 1024
    assert min(space.options("rbuf_bytes")) == 64 and max(space.options("rbuf_bytes")) == 1024


@pytest.mark.parametrize(
    "group",
    [
        "trainer=cpu",
        "trainer=gpu",
        "trainer=ddp",
        "logger=csv",
        "logger=wandb",
        "logger=none",
        "strategy=random",
        "data=cifar10",
    ],
)
def test_every_group_option_composes(group: str) -> None:
    validate_config(compose_config("search", [group]))


def test_paper_experiment_sets_the_papers_settings() -> None:
    cfg = compose_config("train", ["experiment=paper"])
    hyper = PAPER["hypernet"]
    assert cfg.data.name == "cifar10" and cfg.data.batch_size == hyper["batch_size"]
    assert cfg.model.epochs == hyper["epochs"] and cfg.model.cells == hyper["cells"]
    assert cfg.model.optimizer.lr == hyper["lr_max"] and cfg.model.optimizer.lr_min == hyper["lr_min"]
    assert cfg.model.optimizer.momentum == hyper["momentum"]
    assert cfg.model.optimizer.weight_decay == hyper["weight_decay"]
    assert cfg.trainer.accelerator == "gpu"
    assert compose_config("search", ["experiment=paper"]).search.iterations == 12000


# (override, key, bad value as printed, text of what is allowed)
INVALID = [
    (
        "accelerator.dataflows=[WS,OS,XYZ]",
        "accelerator.dataflows[2]",
        "'XYZ'",
        "one of ['WS', 'OS', 'RS', 'IS', 'NLR']",
    ),
    ("space.ops=[conv3x3,conv9x9]", "space.ops[1]", "'conv9x9'", "one of ["),
    ("accelerator.pe_arrays=[8x8,4x8]", "accelerator.pe_arrays[1]", "'4x8'", "rows in [8, 16] and cols in [8, 32]"),
    ("accelerator.pe_arrays=[16x64]", "accelerator.pe_arrays[0]", "'16x64'", "rows in [8, 16] and cols in [8, 32]"),
    ("accelerator.gbuf_kb=[108,2048]", "accelerator.gbuf_kb[1]", "2048", "an integer in [108, 1024]"),
    ("accelerator.gbuf_kb=[64]", "accelerator.gbuf_kb[0]", "64", "an integer in [108, 1024]"),
    ("accelerator.rbuf_bytes=[32,64]", "accelerator.rbuf_bytes[0]", "32", "an integer in [64, 1024]"),
    ("accelerator.rbuf_bytes=[4096]", "accelerator.rbuf_bytes[0]", "4096", "an integer in [64, 1024]"),
    ("reward.omega1=0.4", "reward.omega1", "0.4", "a finite number < 0.0"),
    ("reward.omega2=0.0", "reward.omega2", "0.0", "a finite number < 0.0"),
    ("reward.t_lat_ms=0", "reward.t_lat_ms", "0", "a finite number > 0.0"),
    ("reward.t_eer_mj=-9", "reward.t_eer_mj", "-9", "a finite number > 0.0"),
    ("cost_model._target_=spice", "cost_model._target_", "'spice'", "the import path of a cost model class"),
    ("accelerator.dataflows=[WS,WS]", "accelerator.dataflows", "['WS', 'WS']", "without repeated entries"),
    ("search.iterations=0", "search.iterations", "0", "an integer >= 1"),
    ("num_threads=0", "num_threads", "0", "an integer >= 1"),
    ("num_threads=two", "num_threads", "'two'", "an integer >= 1"),
    # the elastic space (the default): width and depth lists
    ("space.widths=[0,0.5]", "space.widths[0]", "0", "> 0.0 and <= 1.0"),
    ("space.widths=[0.5,1.5]", "space.widths[1]", "1.5", "> 0.0 and <= 1.0"),
    ("space.widths=[]", "space.widths", "[]", "a non-empty list"),
    ("space.depths=[0,1]", "space.depths[0]", "0", "an integer in [1, 8]"),
    ("space.depths=[]", "space.depths", "[]", "a non-empty list"),
    ("model.distill=true", "model.distill", "True", "false unless model.sandwich=true"),
    ("space=yoso model.sandwich=true", "model.sandwich", "True", "false in a space without width/depth decisions"),
    # accelerator=naas: connectivities ROWS-COLS over the loop dimensions KCPQRS, loop orders permutations of KCP
    (
        "accelerator=naas accelerator.connectivity=[C-K,K-Z]",
        "accelerator.connectivity[1]",
        "'K-Z'",
        "each side one or more distinct loop dimensions of KCPQRS",
    ),
    (
        "accelerator=naas accelerator.connectivity=[K-K]",
        "accelerator.connectivity[0]",
        "'K-K'",
        "no dimension on both sides",
    ),
    (
        "accelerator=naas accelerator.loop_orders=[KCP,KCC]",
        "accelerator.loop_orders[1]",
        "'KCC'",
        "a permutation of 'KCP'",
    ),
    # FPGA targets (docs/targets.md): the board's figures and the frame-rate floor
    ("target=zcu102 target.dsp=-5", "target.dsp", "-5", "an integer >= 1"),
    ("target=zc706 target.clock_mhz=0", "target.clock_mhz", "0", "a finite number > 0.0"),
    ("target=ultra96 target.word_bits=4", "target.word_bits", "4", "one of [8, 16]"),
    ("target=zcu104 target.uram=-1", "target.uram", "-1", "an integer >= 0"),
    ("constraints.min_fps=0", "constraints.min_fps", "0", "a finite number > 0.0"),
]


@pytest.mark.parametrize(("override", "key", "value", "allowed"), INVALID)
def test_invalid_values_raise_a_clear_error(override: str, key: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(compose_config("search", override.split()))
    assert (info.value.key, repr(info.value.value)) == (key, value)
    assert allowed in info.value.allowed
    assert f"{key}={value}" in str(info.value) and allowed in str(info.value)


@pytest.mark.parametrize(
    "case",
    [
        INVALID[i] if i in (0, 6) else pytest.param(INVALID[i], marks=pytest.mark.slow)
        for i in (0, 1, 2, 4, 6, 8, 10, -3)
    ],
    ids=lambda c: c[0] if isinstance(c, tuple) else c,
)
def test_cli_stops_before_any_work_on_invalid_values(case, tmp_path: Path) -> None:
    override, key, value, allowed = case
    result = run_entry("search.py", tmp_path, *override.split())
    output = result.stdout + result.stderr
    assert result.returncode == CONFIG_ERROR_EXIT, output
    assert f"invalid config value {key}={value}: allowed" in output and allowed in output
    assert "config valid" not in output and "Traceback" not in output


def test_train_entry_validates_too(tmp_path: Path) -> None:
    result = run_entry("train.py", tmp_path, "space.num_nodes=6")
    assert result.returncode == CONFIG_ERROR_EXIT
    assert "space.num_nodes=6: allowed an integer in [1, 5]" in result.stdout + result.stderr


def test_train_entry_really_trains(tmp_path: Path) -> None:
    result = run_entry("train.py", tmp_path, "experiment=smoke")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "config valid" in output and "val/acc_mean = " in output and "not implemented" not in output
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_config_values_are_plain_after_resolution() -> None:
    cfg = compose_config("search")
    assert OmegaConf.to_container(cfg.accelerator, resolve=True)["dataflows"] == list(PAPER_DATAFLOWS)


@pytest.mark.parametrize("option", sorted(p.stem for p in (ROOT / "conf" / "strategy").glob("*.yaml")))
def test_strategy_yaml_lists_its_schema_and_restates_no_code_default(option: str) -> None:
    """Each strategy YAML composes onto its class's schema (keys and defaults from the code) and sets only what differs."""
    from yoso.app.cli import strategy_schemas

    space = ["space=yoso"] if option == "differentiable" else []  # it relaxes cells and accelerator only
    cfg = compose_config("search", [f"strategy={option}", *space])
    assert validate_config(cfg).strategy.name == cfg.strategy.name == option
    schema = OmegaConf.to_container(OmegaConf.structured(strategy_schemas()[option]))
    stated = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "strategy" / f"{option}.yaml"))
    assert stated.pop("defaults") == [f"/{schema_name('strategy', option)}@_here_", "_self_"]
    assert set(cfg.strategy) == set(schema)
    assert not [k for k, v in stated.items() if v == schema[k]]


def _restated(stated: dict, schema: dict, prefix: str = "") -> list[str]:
    """The keys (dotted, nested nodes descended) whose value in ``stated`` equals the schema's default."""
    same = []
    for key, value in stated.items():
        if isinstance(value, dict) and isinstance(schema.get(key), dict) and value:
            same += _restated(value, schema[key], f"{prefix}{key}.")
        elif key in schema and value == schema[key]:
            same.append(prefix + key)
    return same


@pytest.mark.parametrize(
    "group, option",
    [
        ("model", "supernet"),
        ("hw", "default"),
        ("cost_model", "gp"),
        ("cost_model", "simulator"),
        ("cost_model", "mlp"),
    ],
)
def test_model_hw_cost_model_yaml_lists_its_schema_and_restates_no_code_default(group: str, option: str) -> None:
    """The model, hw and cost_model YAMLs compose onto their schemas (keys and defaults from the code) and set only
    what differs."""
    from hydra.core.config_store import ConfigStore

    cfg = compose_config("search", [f"cost_model={option}"] if group == "cost_model" else [])
    validate_config(cfg)
    node = ConfigStore.instance().load(f"{schema_name(group, option)}.yaml").node
    schema = OmegaConf.to_container(node)
    stated = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / group / f"{option}.yaml"))
    assert stated.pop("defaults") == [f"/{schema_name(group, option)}@_here_", "_self_"]
    assert set(cfg[group]) == set(schema)
    assert not _restated(stated, schema)


def test_search_settings_fill_race_top_and_reject_bad_values() -> None:
    """search.race.top defaults to search.top_n; experiment=paper (top_n 10) validates; bad values name their key."""
    from yoso.search.settings import RaceSettings, SearchSettings

    assert SearchSettings(top_n=3).race == RaceSettings(looks=(500, 2000), top=3)
    assert validate_config(compose_config("search")).search.race == RaceSettings(looks=(500, 2000), top=2)
    paper = validate_config(compose_config("search", ["experiment=paper"])).search
    assert (paper.iterations, paper.top_n, paper.race.top) == (12000, 10, 10)
    for override, key, value in (
        ("search.race.top=1 search.top_n=2", "search.race.top", "1"),
        ("search.race.looks=[500,0]", "search.race.looks[1]", "0"),
        ("+search.race.every=3", "search.race.every", "3"),
        ("search.histogram_every=0", "search.histogram_every", "0"),
        ("search.progress=maybe", "search.progress", "'maybe'"),
        ("search.top_n=0", "search.top_n", "0"),
    ):
        with pytest.raises(ConfigError) as info:
            validate_config(compose_config("search", override.split()))
        assert (info.value.key, repr(info.value.value)) == (key, value)


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("model.epochs=0", "model.epochs", "0"),
        ("model.val_every_n_epochs=0", "model.val_every_n_epochs", "0"),
        ("model.standalone.channels=0", "model.standalone.channels", "0"),
        ("model.standalone.optimizer.momentum=-1", "model.standalone.optimizer.momentum", "-1"),
        ("~model.optimizer.lr", "model.optimizer.lr", "None"),
        ("model.bn_recalibration_batches=-1", "model.bn_recalibration_batches", "-1"),
        ("+model.depth=3", "model", "'yoso.nn.modules.SupernetModule'"),
    ],
)
def test_model_values_are_judged_by_the_modules(override: str, key: str, value: str) -> None:
    """The model node and its standalone node are checked by their modules' own checks (nothing built)."""
    with pytest.raises(ConfigError) as info:
        validate_config(compose_config("train", [override]))
    assert (info.value.key, repr(info.value.value)) == (key, value)


def test_unknown_group_option_stops_before_hydra(capsys, tmp_path: Path) -> None:
    """An option a config group lacks (an unknown board, strategy, ...) stops with one line and exit status 2, before
    Hydra composes (which would exit 1 with several lines); sweeps are checked choice by choice."""
    from yoso.app.cli import check_group_choices

    check_group_choices(
        [
            "target=zcu102",
            "strategy=random,tpe",
            "seed=3",
            "model.channels=8",
            "experiment=null",
            "hydra/launcher=basic",
        ]
    )
    for argv, bad in ((["target=zcu999"], "target='zcu999'"), (["-m", "strategy=random,nope"], "strategy='nope'")):
        with pytest.raises(SystemExit) as info:
            check_group_choices(argv)
        assert info.value.code == CONFIG_ERROR_EXIT
        assert f"invalid config value {bad}: allowed one of [" in capsys.readouterr().err
    result = run_entry("search.py", tmp_path, "target=zcu999")
    assert result.returncode == CONFIG_ERROR_EXIT, result.stderr
    assert (
        "invalid config value target='zcu999': allowed one of ['asic_65nm', 'ultra96', 'zc706', 'zcu102'"
        in result.stderr
    )


def test_help_offers_only_real_options(tmp_path: Path) -> None:
    """``search.py --help`` lists each group's options and none of the typed schemas they compose onto."""
    result = run_entry("search.py", tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    groups = result.stdout.split("== Config ==")[0]
    assert "strategy: cmaes, differentiable, evolution, nsga2, qnehvi, random, reinforce, tpe" in groups
    assert "schema" not in groups
