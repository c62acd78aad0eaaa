"""Energy of the configurations under ZigZag (analytical DSE, LOMA mapping search); writes results/zigzag.json.

Hardware per config: per-PE register files for W / I / O (rbuf_bytes split 1/2, 1/4, 1/4), one shared
global buffer (gbuf_kb, all operands), DRAM.  Per-access energies are those of the 16-bit-word
Eyeriss units (RF 1, GLB 6, DRAM 200, MAC 1), scaled by the port width in words; ZigZag has no separate
array-NoC level, so "noc" is 0 (not modelled).  Dataflows are spatial unrollings:
WS = C x K (TPU-like), OS = OX x OY (ShiDianNao-like), RS = FY x OY (Eyeriss-like rows; depthwise: G x OY
for WS, as C and K are 1).  The mapping search minimises energy.

Usage (in .venv-ext): python benchmarks/external/run_zigzag.py [--ids ID,...] [--jobs 2]
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from common import Record, parse_args, run_all
from configs import UNIT_COSTS, energy_configs

WORD = 16  # bits per element, as nn-dataflow's 16-bit words
PORT = {"rf": 16, "glb": 128, "dram": 64}  # port widths in bits


def _mem(name: str, bits: int, cost: float, ops: list[str], served: list[str], port: int) -> dict[str, Any]:
    e = cost * port / WORD  # energy per port-wide access
    alloc = [f"{o}, {d}" for o in ops for d in (("fh", "tl", "fl", "th") if o == "O" else ("fh", "tl"))]
    return {
        name: {
            "size": bits,
            "r_cost": e,
            "w_cost": e,
            "area": 0,
            "latency": 1,
            "operands": ops,
            "ports": [
                {
                    "name": "rw_port_1",
                    "type": "read_write",
                    "bandwidth_min": port,
                    "bandwidth_max": port,
                    "allocation": alloc,
                }
            ],
            "served_dimensions": served,
        }
    }


def hardware(c: Record) -> dict[str, Any]:
    """ZigZag accelerator description for a config."""
    rb = c["rbuf_bytes"] * 8
    mems: dict[str, Any] = {}
    mems |= _mem("rf_W", rb // 2, UNIT_COSTS["rf"], ["I2"], [], PORT["rf"])
    mems |= _mem("rf_I", rb // 4, UNIT_COSTS["rf"], ["I1"], [], PORT["rf"])
    mems |= _mem("rf_O", rb // 4, UNIT_COSTS["rf"], ["O"], [], PORT["rf"])
    mems |= _mem("glb", c["gbuf_kb"] * 8192, UNIT_COSTS["glb"], ["I1", "I2", "O"], ["D1", "D2"], PORT["glb"])
    mems |= _mem("dram", 10**10, UNIT_COSTS["dram"], ["I1", "I2", "O"], ["D1", "D2"], PORT["dram"])
    return {
        "name": "yoso_ext",
        "memories": mems,
        "operational_array": {
            "unit_energy": UNIT_COSTS["mac"],
            "unit_area": 1,
            "dimensions": ["D1", "D2"],
            "sizes": [c["pe_rows"], c["pe_cols"]],
        },
    }


def unrolling(c: Record) -> tuple[str, str]:
    """Layer dims unrolled over (D1 = rows, D2 = cols) for the config's dataflow."""
    dw = c["groups"] != 1
    return {"WS": ("FY", "G") if dw else ("C", "K"), "OS": ("OX", "OY"), "RS": ("FY", "OY")}[c["dataflow"]]


def workload(c: Record) -> list[dict[str, Any]]:
    """ZigZag workload (one layer); padding as in the record, depthwise on the G dimension."""
    s, dw = c["stride"], c["groups"] != 1
    if dw:
        eq, dims = "O[b][g][oy][ox]+=W[g][fy][fx]*I[b][g][iy][ix]", ["B", "G", "OY", "OX", "FY", "FX"]
        sizes = [c["N"], c["groups"], c["h_out"], c["w_out"], c["R"], c["S"]]
    else:
        eq, dims = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]", ["B", "K", "C", "OY", "OX", "FY", "FX"]
        sizes = [c["N"], c["K"], c["C"], c["h_out"], c["w_out"], c["R"], c["S"]]
    return [
        {
            "id": 0,
            "name": "L",
            "operator_type": "Conv",
            "equation": eq,
            "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
            "loop_dims": dims,
            "loop_sizes": sizes,
            "operand_precision": {"O": WORD, "O_final": WORD, "W": WORD, "I": WORD},
            "operand_source": {"I": 0},
            "pr_loop_dims": ["IX", "IY"],
            "padding": [[c["pad"], c["pad"]], [c["pad"], c["pad"]]],
        }
    ]


def evaluate(c: Record) -> Record:
    """One ZigZag run; energy breakdown in MAC units by memory level."""
    import yaml
    from zigzag.api import get_hardware_performance_zigzag

    d1, d2 = unrolling(c)
    mapping = [
        {
            "name": "default",
            "spatial_mapping": {"D1": [f"{d1}, {c['pe_rows']}"], "D2": [f"{d2}, {c['pe_cols']}"]},
            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"},
        }
    ]
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "hw.yaml").write_text(yaml.safe_dump(hardware(c), sort_keys=False))
        (d / "map.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
        (d / "wl.yaml").write_text(yaml.safe_dump(workload(c), sort_keys=False))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            energy, latency, cmes = get_hardware_performance_zigzag(
                str(d / "wl.yaml"),
                str(d / "hw.yaml"),
                str(d / "map.yaml"),
                opt="energy",
                dump_folder=str(d / "out"),
                loma_show_progress_bar=False,
            )
        seconds = time.perf_counter() - start
    cme = cmes[0][1][0][0]
    levels = cme.accelerator.memory_hierarchy
    out = {"mac": float(cme.mac_energy), "rf": 0.0, "noc": 0.0, "glb": 0.0, "dram": 0.0}
    for op, parts in cme.mem_energy_breakdown.items():
        mem_op = cme.memory_operand_links.layer_to_mem_op(op)
        for e, lvl in zip(parts, levels.get_memory_levels(mem_op=mem_op)):
            name = lvl.name
            out["rf" if name.startswith("rf") else name] += float(e)
    out["total"] = float(energy)
    assert abs(sum(v for k, v in out.items() if k != "total") - out["total"]) <= 1e-6 * out["total"]
    return {
        **c,
        "tool": "zigzag",
        "energy": out,
        "cycles": float(latency),
        "spatial_unrolling": {"D1": d1, "D2": d2},
        "search": "loma, lpf_limit 6, opt energy",
        "seconds": round(seconds, 4),
    }


if __name__ == "__main__":
    run_all("zigzag", energy_configs("zigzag"), evaluate, parse_args(__doc__), {"version": version("zigzag-dse")})
