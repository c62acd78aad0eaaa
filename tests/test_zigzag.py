"""ZigZag as a reference cost (``reference_cost=zigzag``): the translation, the start-up error without the package,
and, where zigzag-dse is installed (``make install-zigzag``), ZigZag's figures of a layer and of a network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, compose_config, space_of

from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.hw import Deploy, Layer, load_tech, simulate_layer, zigzag
from yoso.predictor.cost import HwSetup
from yoso.predictor.settings import PredictorConfig
from yoso.predictor.zigzag_cost import ZigZagCostModel
from yoso.space.accelerator import Accelerator
from yoso.space.known import DARTS_V2

needs_zigzag = pytest.mark.skipif(
    not zigzag.available(), reason=f"zigzag-dse is not installed (optional extra: {zigzag.INSTALL_HINT})"
)
CONV = Layer("conv", C=16, K=16, H=8, W=8, R=3, S=3, padding=1)
TECH = load_tech()


# --------------------------------------------------------------------------- without zigzag


def test_the_translation_unrolls_the_dataflow_and_holds_its_operand() -> None:
    ws = zigzag.spatial_mappings(CONV, Accelerator(8, 8, 128, 512, "WS"))
    assert len(ws) == 1 and ws[0].held == "W" and ws[0].cols == (("K", 8),)
    assert np.prod([f for _, f in ws[0].rows]) <= 8 and {n for n, _ in ws[0].rows} <= {"C", "FY", "FX"}
    os_ = zigzag.spatial_mappings(CONV, Accelerator(8, 8, 128, 512, "OS"))  # systolic PQ-K and ShiDianNao's P-Q
    assert [m.held for m in os_] == ["O", "O"] and os_[1].rows == (("OY", 8),) and os_[1].cols == (("OX", 8),)
    ck = zigzag.spatial_mappings(CONV, Accelerator(8, 8, 128, 512, "C-K"))  # a connectivity: ZigZag picks what stays
    assert len(ck) == 1 and ck[0].held == "WIO" and ck[0].rows == (("C", 8),) and ck[0].cols == (("K", 8),)


def test_the_hardware_takes_the_technology_unit_costs() -> None:
    acc = Accelerator(8, 8, 128, 512, "WS")
    unit = TECH.costs(acc)
    mems = zigzag.hardware(acc, TECH, "W", "W")["memories"]
    assert list(mems) == ["rf", "glb", "dram"]
    assert mems["rf"]["operands"] == ["I2"] and mems["dram"]["operands"] == ["I2"]
    port_words = mems["glb"]["ports"][0]["bandwidth_max"] / TECH.word_bits
    assert mems["glb"]["r_cost"] == pytest.approx(unit.glb * TECH.mac_pj * port_words)
    assert "rf" not in zigzag.hardware(Accelerator(8, 8, 128, 512, "NLR"), TECH, "", "IWO")["memories"]


def test_pooling_has_no_weight_bits_and_the_add_is_elementwise() -> None:
    pool = Layer("pool_max", C=8, K=8, H=8, W=8, R=3, S=3, stride=2, padding=1, groups=8)
    assert zigzag.workload(pool, 16)[0]["operand_precision"]["W"] == 0
    add = Layer("add", C=8, K=8, H=4, W=4, groups=8)
    (m,) = zigzag.spatial_mappings(add, Accelerator(8, 8, 128, 512, "WS"))
    assert m.held == "" and m.rows == (("G", 8),) and m.cols == (("OX", 4),)


def test_without_zigzag_the_reference_stops_with_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zigzag, "available", lambda: False)
    cfg = compose_config("search", ["reference_cost=zigzag"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert err.value.key == "reference_cost" and err.value.value == "zigzag"
    assert "make install-zigzag" in str(err.value)


@pytest.mark.slow  # a whole search.py process; the ConfigError itself is checked in-process above
def test_search_py_without_zigzag_exits_2_at_start_up(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"  # a zigzag package that cannot be imported, ahead of any installed one
    (blocked / "zigzag").mkdir(parents=True)
    (blocked / "zigzag" / "__init__.py").write_text("raise ImportError('zigzag blocked by the test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocked), "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    run = [sys.executable, str(ROOT / "search.py"), f"hydra.run.dir={tmp_path}", "logger=none"]
    result = subprocess.run(
        [*run, "reference_cost=zigzag"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert "invalid config value reference_cost='zigzag'" in output and "make install-zigzag" in output


# --------------------------------------------------------------------------- with zigzag


@needs_zigzag
def test_zigzag_counts_the_layer_s_macs_and_its_weights_from_dram() -> None:
    acc = Accelerator(8, 8, 128, 512, "WS")
    z = zigzag.zigzag_layer(CONV, acc, TECH, 4)
    s = simulate_layer(CONV, acc, TECH)
    assert z.accesses["mac"] == pytest.approx(CONV.macs)
    assert z.from_dram == "W" and z.accesses["dram"] == pytest.approx(s.accesses["dram"], rel=0.01)
    assert z.energy_pj["noc"] == 0 and z.cycles >= CONV.macs / acc.num_pes


@needs_zigzag
def test_reference_cost_zigzag_is_valid_at_start_up() -> None:
    run = validate_config(compose_config("search", ["reference_cost=zigzag", "reference_cost.lpf_limit=4"]))
    model = run.hw.reference_model()
    assert isinstance(model, ZigZagCostModel) and model.lpf_limit == 4
    assert model.fingerprint()["zigzag"] == zigzag.ZIGZAG_VERSION


@needs_zigzag
def test_zigzag_costs_a_network_near_the_simulator() -> None:
    from yoso.hw import evaluate

    space = space_of(compose_config("search"))
    deploy = Deploy(input_shape=(3, 16, 16), channels=8, cells=3)
    model = ZigZagCostModel(HwSetup(space, deploy, TECH, PredictorConfig()), lpf_limit=4)
    design = (DARTS_V2, Accelerator(8, 8, 128, 512, "WS"))
    energy, latency = model.evaluate_designs([design])
    sim_energy, sim_latency = evaluate([design], tech=TECH, deploy=deploy)
    assert np.all(np.isfinite(energy)) and energy[0] > 0 and latency[0] > 0
    assert 0.2 < energy[0] / sim_energy[0] < 5 and 0.2 < latency[0] / sim_latency[0] < 5
