"""Run the cycle configurations through SCALE-Sim (WS/OS systolic array); writes results/scalesim.json.

Usage (in .venv-ext): python benchmarks/external/run_scalesim.py [--ids ID,...] [--jobs 2]
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from common import Record, parse_args, run_all
from configs import cycle_configs

CFG = """[general]
run_name = run

[architecture_presets]
ArrayHeight: {pe_rows}
ArrayWidth: {pe_cols}
IfmapSramSzkB: {ifmap_sram_kb}
FilterSramSzkB: {filter_sram_kb}
OfmapSramSzkB: {ofmap_sram_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {df}
MemoryBanks: {memory_banks}
ReadRequestBuffer: {read_request_buffer}
WriteRequestBuffer: {write_request_buffer}

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false

[run_presets]
InterfaceBandwidth: {bandwidth_mode}
UseRamulatorTrace: False
"""


def analytic_cycles(c: Record) -> int:
    """SCALE-Sim's first-order model, per group: folds x (fill + T) cycles.

    Fill per fold is 2*rows + cols - 2 for WS (weight preload + skew) and rows + cols - 2 for OS.

    WS: weights (R*S*C/g rows x K/g cols) pinned, T = ofmap pixels streamed.
    OS: outputs (ofmap pixels rows x K/g cols) pinned, T = R*S*C/g window streamed.
    """
    rows, cols = c["pe_rows"], c["pe_cols"]
    cg, kg = c["C"] // c["groups"], c["K"] // c["groups"]
    window, pix = c["R"] * c["S"] * cg, c["N"] * c["h_out"] * c["w_out"]
    sr, t = (window, pix) if c["dataflow"] == "WS" else (pix, window)
    folds = math.ceil(sr / rows) * math.ceil(kg / cols)
    fill = (2 * rows if c["dataflow"] == "WS" else rows) + cols - 2
    return c["groups"] * folds * (fill + t)


def simulate(c: Record) -> Record:
    """One SCALE-Sim run (padded ifmap; a depthwise layer runs as one 1-channel layer per channel)."""
    from scalesim.scale_sim import scalesim

    if c["N"] != 1 or c["dilation"] != 1 or c["groups"] not in (1, c["C"]):
        raise ValueError(f"{c['id']}: SCALE-Sim runs N=1, undilated, dense or depthwise layers only")
    ss = c["scalesim"]
    dw = c["groups"] != 1
    name = "DPlayer" if dw else "layer"
    # Input rows actually read ((out-1)*stride + R <= h_in + 2*pad): SCALE-Sim rounds outputs up.
    h, w = (c["h_out"] - 1) * c["stride"] + c["R"], (c["w_out"] - 1) * c["stride"] + c["S"]
    row = [name, h, w, c["R"], c["S"], c["C"], 1 if dw else c["K"], c["stride"]]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "run.cfg").write_text(
            CFG.format(df=c["dataflow"].lower(), pe_rows=c["pe_rows"], pe_cols=c["pe_cols"], **ss)
        )
        (d / "topo.csv").write_text(
            "Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,"
            "Channels,Num Filter,Strides,\n" + ",".join(map(str, row)) + ",\n"
        )
        (d / "layout.csv").write_text("Layer name,\n")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(d / "run.cfg"),
                topology=str(d / "topo.csv"),
                layout=str(d / "layout.csv"),
            )
            sim.run_scale(top_path=str(d / "out"))
        seconds = time.perf_counter() - start
        items = [o.get_compute_report_items() for o in sim.runner.single_layer_sim_object_list]
    cycles = sum(int(i[1]) for i in items)
    macs = c["N"] * c["K"] * c["h_out"] * c["w_out"] * c["R"] * c["S"] * c["C"] // c["groups"]
    return {
        **c,
        "tool": "scalesim",
        "cycles": cycles,
        "cycles_incl_prefetch": sum(int(i[0]) for i in items),
        "stall_cycles": sum(int(i[2]) for i in items),
        "utilization": macs / (cycles * c["pe_rows"] * c["pe_cols"]),
        "mapping_efficiency_pct": sum(float(i[4]) for i in items) / len(items),
        "scalesim_layers": len(items),
        "analytic_cycles": analytic_cycles(c),
        "seconds": round(seconds, 4),
    }


if __name__ == "__main__":
    run_all("scalesim", cycle_configs(), simulate, parse_args(__doc__), {"version": version("scalesim")})
