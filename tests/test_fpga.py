"""FPGA targets (docs/targets.md): the resource and power model, the target group, and searches on a board."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import CONF, REWARD, STRATEGIES, compose_config, fake_accuracy, make_loop, options, run_entry
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from yoso.app.run import validate_config
from yoso.hw import Layer, evaluate, load_tech
from yoso.hw.fpga import RESOURCES, USAGE_COLUMNS, Board, fps
from yoso.predictor.cost import HwSetup, OnBoard, SimulatorCostModel, accelerators_of
from yoso.predictor.dataset import sample_set_key
from yoso.search.constraints import Constraints
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.final import final_step
from yoso.space.accelerator import Accelerator, Limits
from yoso.space.known import DARTS_V2

#: The FPGA boards of conf/target (every option but the ASIC).
BOARDS = tuple(o for o in options("target") if o != "asic_65nm")
NO_LIMITS = None


def board_setup(board: str, *overrides: str) -> HwSetup:
    return validate_config(compose_config("search", [f"target={board}", "cost_model=simulator", *overrides])).hw


def test_the_boards_are_at_least_three_of_different_size() -> None:
    sizes = {board_setup(b).board.dsp for b in BOARDS}
    assert len(BOARDS) >= 3 and len(sizes) == len(BOARDS)


def test_asic_target_reproduces_the_plain_simulator_and_keeps_every_key() -> None:
    """target=asic_65nm (the default) sets nothing: same config, same HyperNet key, DARTS_V2's figures unchanged."""
    default, asic = compose_config("search"), compose_config("search", ["target=asic_65nm"])
    assert default == asic and "target" not in asic
    assert validate_config(default).hypernet_key == validate_config(asic).hypernet_key
    setup = validate_config(compose_config("search", ["target=asic_65nm", "cost_model=simulator"])).hw
    assert setup.board is None and setup.tech == load_tech("eyeriss_65nm")
    model = validate_config(compose_config("search", ["target=asic_65nm", "cost_model=simulator"])).cost_model()
    assert isinstance(model, SimulatorCostModel)
    acc = setup.space.accelerators.all()[7]
    plain = evaluate([(DARTS_V2, acc)], tech=load_tech("eyeriss_65nm"), deploy=setup.deploy)
    assert evaluate([(DARTS_V2, acc)], tech=setup.tech, deploy=setup.deploy) == plain
    vectors = setup.space.sample(4, 0)
    energy, latency = model(vectors)
    expected = evaluate(vectors, space=setup.space, tech=load_tech("eyeriss_65nm"), deploy=setup.deploy)
    assert energy.tolist() == expected[0].tolist() and latency.tolist() == expected[1].tolist()


def test_dsp_slices_follow_the_operand_precision() -> None:
    """One 16-bit MAC per DSP48E2, two 8-bit MACs (WP486); a DSP48E1 board stays at one."""
    acc = Accelerator(16, 32, 256, 64, "WS", limits=NO_LIMITS)
    zcu102 = board_setup("zcu102").board
    assert zcu102.usage([acc]).counts[0, 0] == 512
    int8 = Board(**{**_fields(zcu102), "word_bits": 8})
    assert int8.usage([acc]).counts[0, 0] == 256
    zc706 = board_setup("zc706", "target.word_bits=8").board
    assert zc706.usage([acc]).counts[0, 0] == 512


def _fields(board: Board) -> dict:
    return {f: getattr(board, f) for f in board.__dataclass_fields__}


def test_block_ram_packing_and_ultraram() -> None:
    """The global buffer's port is (rows + cols) words wide, packed in the BRAM36 shape needing fewest blocks;
    1 KB register files take half a BRAM36 per PE, 64 B ones LUTRAM; UltraRAM holds the buffer where present."""
    zcu102, zcu104 = board_setup("zcu102").board, board_setup("zcu104").board
    acc = Accelerator(16, 16, 512, 1024, "RS", limits=NO_LIMITS)
    # port 32 words x 16 bit = 512 bit, 512 KB deep 8192 lines: 2Kx18 -> 29 x 4 = 116; 512x72 -> 8 x 16 = 128
    # (best: 1Kx36: 15 x 8 = 120; 2Kx18: 29 x 4 = 116; 4Kx9: 57 x 2 = 114; 8Kx4: 128 x 1 = 128) -> 114, + 128 RF
    counts = zcu102.usage([acc]).counts[0]
    assert counts[1] == 114 + 128 and counts[2] == 0
    small_rf = Accelerator(16, 16, 512, 64, "RS", limits=NO_LIMITS)
    assert zcu102.usage([small_rf]).counts[0, 1] == 114
    assert zcu102.usage([small_rf]).counts[0, 3] == zcu102.shell_lut + 256 * (zcu102.lut_per_pe + 64 * 8 // 64)
    # UltraRAM 4Kx72: 8 wide x 2 deep = 16 blocks, no BRAM for the buffer
    on_uram = zcu104.usage([acc]).counts[0]
    assert on_uram[2] == 16 and on_uram[1] == 128


def test_a_design_that_does_not_fit_is_infinite_and_the_others_are_costed_by_power() -> None:
    setup = board_setup("ultra96")
    board = setup.board
    fits = Accelerator(16, 16, 256, 64, "WS", limits=NO_LIMITS)
    too_many_dsps = Accelerator(16, 24, 256, 64, "WS", limits=NO_LIMITS)  # 384 > 360
    too_much_bram = Accelerator(16, 16, 1024, 64, "WS", limits=NO_LIMITS)  # 1 MB > 216 x 4 KB
    usage = board.usage([fits, too_many_dsps, too_much_bram])
    assert usage.fits.tolist() == [True, False, False]
    energy, latency = board.cost([fits, too_many_dsps, too_much_bram], [1.0, 1.0, 1.0], [10.0, 10.0, 10.0])
    assert np.isinf(energy[1:]).all() and np.isinf(latency[1:]).all()
    power = (
        board.static_w
        + usage.counts[0]
        @ [board.dsp_uw_per_mhz, board.bram36_uw_per_mhz, board.uram_uw_per_mhz, board.lut_uw_per_mhz, 0.0]
        * board.clock_mhz
        * 1e-6
    )
    assert energy[0] == pytest.approx(1.0 + power * 10.0) and latency[0] == 10.0
    assert fps(latency)[0] == pytest.approx(100.0)


def test_the_board_tech_runs_the_simulator_at_the_board_clock_and_keeps_dram_energy_only() -> None:
    setup = board_setup("zcu102")
    asic = load_tech("eyeriss_65nm")
    acc = Accelerator(16, 32, 512, 64, "WS", limits=NO_LIMITS)
    (e_asic,), (l_asic,) = evaluate([(DARTS_V2, acc)], tech=asic, deploy=setup.deploy)
    (e_dram,), (l_board,) = evaluate([(DARTS_V2, acc)], tech=setup.tech, deploy=setup.deploy)
    assert setup.tech.clock_mhz == 250.0 and setup.tech.dram_gb_s == 19.2
    assert l_board >= l_asic * asic.clock_mhz / setup.tech.clock_mhz * 0.999  # 4x slower clock (bandwidth may bound)
    assert 0 < e_dram < e_asic


def test_each_board_has_its_own_cost_model_cache() -> None:
    """The GP's samples are keyed by the technology: a board's differs from the ASIC's and from another board's."""
    keys = set()
    for board in ("asic_65nm", *BOARDS[:2]):
        s = validate_config(compose_config("search", [f"target={board}", "accelerator=paper"])).hw
        keys.add(sample_set_key(s.reference_model(), 10, 0))
    assert len(keys) == 3
    assert isinstance(validate_config(compose_config("search", ["target=zcu102"])).cost_model(), OnBoard)


def test_min_fps_bounds_the_latency() -> None:
    assert Constraints(t_lat_ms=50.0, min_fps=30).t_lat_ms == pytest.approx(1000 / 30)
    assert Constraints(t_lat_ms=10.0, min_fps=30).t_lat_ms == 10.0
    setup = validate_config(compose_config("search", ["target=zcu102", "constraints.min_fps=40"]))
    assert setup.constraints.t_lat_ms == 25.0 and setup.board.name == "zcu102"


def test_board_limits_come_from_the_config() -> None:
    space = board_setup("zcu102").space.accelerators
    assert space.limits == Limits((8, 32), (8, 64), (64, 3072), (32, 1024))
    assert max(a.num_pes for a in space.all()) > 512  # beyond the paper's Table 1


def _board_loop(kind: str, board: str, tmp_path: Path | None, constraints: Constraints, iterations: int = 12):
    setup = board_setup(board)
    cost = OnBoard(SimulatorCostModel(setup), setup)
    loop = make_loop(kind, setup.space, tmp_path, iterations, constraints=constraints, board=setup.board)
    loop.evaluator = CandidateEvaluator(fake_accuracy, cost, REWARD, constraints=constraints)
    return setup, cost, loop


@pytest.mark.parametrize("kind", STRATEGIES)
def test_every_strategy_treats_a_design_that_does_not_fit_as_infeasible(kind: str, tmp_path: Path) -> None:
    """On the smallest board (many designs do not fit): every non-fitting sample is infeasible with the floor reward,
    history.csv shows each sample's resource use, and the final step returns only designs that fit."""
    constraints = Constraints(t_lat_ms=1000 / 30, t_eer_mj=1e3, hard=True)
    setup, cost, loop = _board_loop(kind, "ultra96", tmp_path, constraints)
    history = loop.run()
    usage = setup.board.usage(accelerators_of(setup.space, history.vectors))
    assert (~usage.fits).any()  # the test means something: some samples do not fit
    assert not history.feasible[~usage.fits].any() and (history.reward[~usage.fits] == 0).all()
    with (tmp_path / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["dsp"]) for r in rows] == usage.counts[:, 0].tolist()
    assert [float(r["fits"]) for r in rows] == usage.fits.astype(float).tolist()
    assert all(set(USAGE_COLUMNS) <= set(r) for r in rows)
    rows, chosen = final_step(history, REWARD, 3, cost, None, constraints=constraints)
    returned = [r["accelerator"] for r in rows]
    assert setup.board.usage(returned).fits.all() if returned else chosen is None
    for soft in (Constraints(t_lat_ms=1e-6, t_eer_mj=1e-6), Constraints(t_lat_ms=1e3, t_eer_mj=1e3)):
        rows, chosen = final_step(history, REWARD, 3, cost, None, constraints=soft)
        if chosen is not None:
            assert setup.board.usage([rows[chosen]["accelerator"]]).fits.all()


def test_history_without_a_board_has_no_resource_columns(tmp_path: Path) -> None:
    setup = validate_config(compose_config("search", ["cost_model=simulator"])).hw
    make_loop("random", setup.space, tmp_path, 3).run()
    header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert not set(RESOURCES) & set(header)


def test_an_unknown_board_stops_at_composition_naming_the_options() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)), pytest.raises(Exception) as info:
        compose(config_name="search", overrides=["target=zcu999"])
    assert "target/zcu999" in str(info.value) and all(b in str(info.value) for b in BOARDS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", STRATEGIES)
def test_search_on_a_board_with_a_frame_rate_floor(kind: str, tmp_path: Path, shared_cache: Path) -> None:
    """``python search.py target=<board> constraints.min_fps=30 experiment=smoke`` with every sampling strategy:
    the GP of each board searches, and the chosen design fits the board (the final step's simulator figures are
    finite and the resource model agrees)."""
    for board in BOARDS:
        run = tmp_path / board
        run.mkdir()
        result = run_entry(
            "search.py",
            run,
            f"target={board}",
            "constraints.min_fps=30",
            f"strategy={kind}",
            "experiment=smoke",
            f"paths.cache_dir={shared_cache}",
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        cfg = compose_config("search", [f"target={board}"])
        setup = validate_config(cfg).hw
        best = yaml.safe_load((run / "best.yaml").read_text())
        acc = Accelerator.from_dict(best["accelerator"], setup.space.accelerators.limits)
        assert setup.board.usage([acc]).fits.all() and np.isfinite(best["latency_ms"])
        assert "dsp_pct" in (run / "history.csv").read_text().splitlines()[0]


def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_fpga", CONF.parent / "benchmarks" / "bench_fpga.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_fpga_quick_reports_only_designs_that_fit(capsys) -> None:
    """benchmarks/bench_fpga.py --quick on the smallest board: known networks within the device, Auto-NBA beside."""
    bench = _bench()
    rows = bench.known_networks("ultra96", quick=True)
    assert rows and all(0 < r[k] <= 100.0 for r in rows for k in ("dsp_pct", "lut_pct"))
    assert all(r["fps"] == pytest.approx(1000 / r["latency_ms"]) for r in rows)
    assert bench.main(["--quick", "--boards", "ultra96"]) == 0
    out = capsys.readouterr().out
    assert "Auto-NBA" in out and "NASNet-A" in out


def test_auto_nba_formula_on_a_compute_bound_tile() -> None:
    """The re-expressed Auto-NBA latency: a tile whose compute hides the input load: compute + weights + write-back."""
    layer = Layer("conv", 16, 32, 8, 8, 3, 3, padding=1)
    # Tm = Pm = 32, Tn = Pn = 16, Tr = Tc = 8: compute 8*8*9 = 576; input 16*8*8/4 = 256 (hidden);
    # weights 32*16*9/4 = 1152; write-back 32*64/4 + 64 = 576
    assert _bench().auto_nba_cycles(layer, pm=32, pn=16) == 576 + 1152 + 576


@pytest.mark.parametrize("board", BOARDS)
def test_board_yaml_lists_its_schema_and_restates_no_code_default(board: str) -> None:
    """Each board YAML composes onto Board's schema (keys, _target_ and modelling defaults from the code)."""
    from omegaconf import OmegaConf

    from yoso.config import config_schema

    schema = OmegaConf.to_container(OmegaConf.structured(config_schema(Board)))
    stated = OmegaConf.to_container(OmegaConf.load(CONF / "target" / f"{board}.yaml"))
    assert stated["defaults"][0] == "/target_board_schema@target"
    assert set(compose_config("search", [f"target={board}"]).target) == set(schema)
    assert not [k for k, v in stated["target"].items() if k in schema and v == schema[k]]


def test_a_resumed_search_on_a_board_keeps_the_resource_columns(tmp_path: Path) -> None:
    constraints = Constraints(t_lat_ms=1000 / 30, t_eer_mj=1e3)
    _board_loop("random", "ultra96", tmp_path, constraints, iterations=3)[2].run()
    first = (tmp_path / "history.csv").read_text().splitlines()
    history = _board_loop("random", "ultra96", tmp_path, constraints, iterations=6)[2].run()
    again = (tmp_path / "history.csv").read_text().splitlines()
    assert len(history) == 6 and again[: len(first)] == first and again[0].endswith(",".join(USAGE_COLUMNS))


def test_cli_stops_on_a_bad_board_value_before_any_work(tmp_path: Path) -> None:
    result = run_entry("search.py", tmp_path, "target=zcu102", "target.dsp=-5")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "invalid config value target.dsp=-5: allowed an integer >= 1" in output and "config valid" not in output
