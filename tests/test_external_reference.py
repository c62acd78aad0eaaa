"""The external simulators' reference data (package data yoso/reference/external_reference.json): structure, provenance.

The slow test regenerates a few records live with the external tools in ``.venv-ext`` (see
benchmarks/external/README.md) and checks they equal the stored ones.
"""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import pytest
from helpers import ROOT

from yoso.reference import EXTERNAL

EXT = ROOT / "benchmarks" / "external"
EXT_PY = ROOT / ".venv-ext" / "bin" / "python"

LAYER_FIELDS = ("N", "C", "K", "h_in", "w_in", "h_out", "w_out", "R", "S", "stride", "groups", "pad", "dilation")
HW_FIELDS = ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes", "dataflow")
ENERGY_KEYS = ("total", "mac", "rf", "noc", "glb", "dram")


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    return json.loads(EXTERNAL.read_text())


def _check_layer(r: dict[str, Any]) -> None:
    for f in LAYER_FIELDS + HW_FIELDS + ("id", "tool", "seconds"):
        assert f in r, f"{r.get('id')}: missing {f}"
    for f in LAYER_FIELDS + HW_FIELDS[:4]:
        assert isinstance(r[f], int) and r[f] >= (0 if f == "pad" else 1), f"{r['id']}: bad {f}={r[f]}"
    assert r["groups"] in (1, r["C"]) and r["C"] % r["groups"] == 0 and r["K"] % r["groups"] == 0
    eff = r["dilation"] * (r["R"] - 1) + 1
    assert r["h_out"] == (r["h_in"] + 2 * r["pad"] - eff) // r["stride"] + 1, r["id"]
    assert r["seconds"] > 0


def test_provenance(ref: dict[str, Any]) -> None:
    assert ref["generated_by"] and "collect.py" in ref["generated_by"]
    assert ref["tools"]["scalesim"] == "3.0.0" and ref["tools"]["nn_dataflow"] == "2.1"
    assert ref["tools"]["sympy"] == "1.5.1"
    u = ref["unit_costs"]
    assert (u["mac"], u["dram"], u["glb"], u["noc"], u["rf"]) == (1, 200, 6, 2, 1)


def test_cycle_records(ref: dict[str, Any]) -> None:
    recs = ref["cycles"]
    assert len(recs) >= 30 and len({r["id"] for r in recs}) == len(recs)
    assert {r["dataflow"] for r in recs} == {"WS", "OS"}
    for r in recs:
        _check_layer(r)
        assert r["tool"] == "scalesim"
        assert isinstance(r["cycles"], int) and r["cycles"] > 0
        assert 0 < r["utilization"] <= 1
        ss = r["scalesim"]
        assert ss["bandwidth_mode"] in ("CALC", "USER") and ss["ifmap_sram_kb"] > 0
    assert any(r["groups"] > 1 for r in recs), "depthwise layers expected in the SCALE-Sim set"


def test_energy_records(ref: dict[str, Any]) -> None:
    recs = ref["energy"]
    nnd = [r for r in recs if r["tool"] == "nn_dataflow"]
    assert len(nnd) >= 30 and len({r["id"] for r in recs}) == len(recs)
    assert {r["tool"] for r in recs} <= {"nn_dataflow", "zigzag"}
    for r in recs:
        _check_layer(r)
        e = r["energy"]
        assert all(k in e and math.isfinite(e[k]) and e[k] >= 0 for k in ENERGY_KEYS), r["id"]
        assert e["total"] > 0 and e["mac"] > 0 and e["dram"] > 0
        assert math.isclose(sum(e[k] for k in ENERGY_KEYS[1:]), e["total"], rel_tol=1e-6), r["id"]
    for r in nnd:
        assert r["dataflow"] == "RS"
        macs = r["N"] * r["K"] * r["h_out"] * r["w_out"] * r["R"] * r["S"] * r["C"] // r["groups"]
        assert r["energy"]["mac"] == pytest.approx(macs * ref["unit_costs"]["mac"])


def test_eyeriss_isca16(ref: dict[str, Any]) -> None:
    eye = ref["eyeriss_isca16"]
    assert eye["source"]["file"].endswith("test_nn_dataflow.py") and len(eye["source"]["commit"]) == 40
    for name in (f"conv{i}" for i in range(1, 6)):
        layer = eye["layers"][name]
        assert all(layer[k] > 0 for k in ("alu", "dram", "rf")), name
        comp = eye["nn_dataflow_computed"][name]
        for k in ("alu", "dram", "rf"):  # the test's own tolerance
            assert abs(comp[k] - layer[k]) < 0.1, (name, k)


def test_whole_network(ref: dict[str, Any]) -> None:
    runs = ref["whole_network"]
    assert runs, "no whole-network timing recorded"
    for run in runs.values():
        assert run["seconds"] > 0 and run["layers"] > 100 and run["unique_layer_shapes"] > 0
        assert run["energy"]["total"] > 0 and run["timed"]


def _rerun(script: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [str(EXT_PY), script, "--jobs", "1", "--ids", ",".join(ids)],
        cwd=EXT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return {r["id"]: r for r in json.loads(out.stdout)["records"]}


@pytest.mark.slow
@pytest.mark.skipif(not EXT_PY.exists(), reason="no .venv-ext: build it with benchmarks/external/setup_venv.sh")
def test_live_regeneration(ref: dict[str, Any]) -> None:
    """The two quickest stored records of each tool, recomputed now, equal the stored ones."""
    jobs = [("run_scalesim.py", ref["cycles"], ("cycles", "cycles_incl_prefetch", "analytic_cycles"))]
    for tool, script in (("nn_dataflow", "run_nn_dataflow.py"), ("zigzag", "run_zigzag.py")):
        recs = [r for r in ref["energy"] if r["tool"] == tool]
        if recs:
            jobs.append((script, recs, ("energy",)))
    for script, recs, fields in jobs:
        pick = sorted(recs, key=lambda r: r["seconds"])[:2]
        live = _rerun(script, [r["id"] for r in pick])
        for r in pick:
            for f in fields:
                assert live[r["id"]][f] == pytest.approx(r[f], rel=1e-9), (script, r["id"], f)
