"""Energy of the configurations under nn-dataflow (Eyeriss row-stationary); writes results/nn_dataflow.json.

Also (with --eyeriss) reruns nn-dataflow's `test_eyeriss_isca16` setup (AlexNet, batch 16) and (with
--whole-network) times the scheduling of the whole DARTS_V2 CIFAR-10 network, layer by layer.

Usage (in .venv-ext): python benchmarks/external/run_nn_dataflow.py [--ids ID,...] [--jobs 2]
       python benchmarks/external/run_nn_dataflow.py --eyeriss | --whole-network [--solve]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from common import RESULTS, Record, run_all
from configs import UNIT_COSTS, WORD_BYTES, darts_v2_layers, energy_configs
from nn_dataflow.core import (
    ConvLayer,
    Cost,
    EltwiseLayer,
    FCLayer,
    InputLayer,
    MapStrategyEyeriss,
    Network,
    NNDataflow,
    NodeRegion,
    Option,
    PhyDim2,
    PoolingLayer,
    Resource,
)
from nn_dataflow.core import mem_hier_enum as me


def resource(pe_rows: int, pe_cols: int, gbuf_kb: int, rbuf_bytes: int) -> Resource:
    """Single-node resource as in nn-dataflow's test_nn_dataflow.py (sizes in 16-bit words)."""

    def reg(kind: int) -> NodeRegion:
        return NodeRegion(origin=PhyDim2(0, 0), dim=PhyDim2(1, 1), type=kind)

    return Resource(
        proc_region=reg(NodeRegion.PROC),
        dram_region=reg(NodeRegion.DRAM),
        src_data_region=reg(NodeRegion.DRAM),
        dst_data_region=reg(NodeRegion.DRAM),
        dim_array=PhyDim2(pe_rows, pe_cols),
        size_gbuf=gbuf_kb * 1024 // WORD_BYTES,
        size_regf=rbuf_bytes // WORD_BYTES,
        array_bus_width=float("inf"),
        dram_bandwidth=float("inf"),
        no_time_mux=False,
    )


COST = Cost(
    mac_op=UNIT_COSTS["mac"],
    mem_hier=(UNIT_COSTS["dram"], UNIT_COSTS["glb"], UNIT_COSTS["noc"], UNIT_COSTS["rf"]),
    noc_hop=0,
    idl_unit=0,
)


def nnd_layer(c: Record) -> tuple[Any, InputLayer, int]:
    """(nn-dataflow layer, its input layer, batch) for a layer record.

    Depthwise convs have no nn-dataflow equivalent: they run as a 1->1 channel conv with the channels
    folded into the batch (same MACs and fmap traffic, filter shared); dilation is ignored (same MACs).
    """
    k, h, ho, n = c["kind"], c["h_in"], c["h_out"], c["N"]
    if k in ("conv", "pointwise"):
        return ConvLayer(c["C"], c["K"], ho, c["R"], strd=c["stride"]), InputLayer(c["C"], h), n
    if k == "fc":
        return FCLayer(c["C"], c["K"], 1), InputLayer(c["C"], 1), n
    if k == "depthwise":
        return ConvLayer(1, 1, ho, c["R"], strd=c["stride"]), InputLayer(1, h), n * c["C"]
    if k in ("maxpool", "avgpool"):
        return PoolingLayer(c["C"], ho, c["R"], strd=c["stride"]), InputLayer(c["C"], h), n
    if k == "add":
        return EltwiseLayer(c["C"], ho, 2), InputLayer(2 * c["C"], h), n
    raise ValueError(f"nn-dataflow: unsupported layer kind {k!r}")


def schedule(c: Record, solve: bool = False) -> Record:
    """Schedule one layer alone (input from and output to DRAM); energy breakdown in MAC units."""
    lay, inp, batch = nnd_layer(c)
    net = Network(c.get("id", c["layer"]))
    net.set_input_layer(inp)
    net.add("L", lay)
    res = resource(c["pe_rows"], c["pe_cols"], c["gbuf_kb"], c["rbuf_bytes"])
    start = time.perf_counter()
    tops, _ = NNDataflow(net, batch, res, COST, MapStrategyEyeriss).schedule_search(
        Option(sw_solve_loopblocking=True, sw_gbuf_bypass=(True,) * 3) if solve else Option()
    )
    seconds = time.perf_counter() - start
    if not tops:
        raise RuntimeError(f"nn-dataflow found no valid schedule for {c.get('id', c['layer'])}")
    sr, acc = tops[0]["L"], tops[0]["L"].total_accesses
    energy = {
        "mac": sr.total_ops * COST.mac_op,
        "rf": acc[me.REGF] * COST.mem_hier[me.REGF],
        "noc": acc[me.ITCN] * COST.mem_hier[me.ITCN],
        "glb": acc[me.GBUF] * COST.mem_hier[me.GBUF],
        "dram": acc[me.DRAM] * COST.mem_hier[me.DRAM],
    }
    energy["total"] = tops[0].total_cost
    assert abs(sum(v for k, v in energy.items() if k != "total") - energy["total"]) <= 1e-6 * energy["total"]
    return {
        **c,
        "tool": "nn_dataflow",
        "energy": energy,
        "macs": sr.total_ops,
        "accesses": {"dram": acc[me.DRAM], "glb": acc[me.GBUF], "noc": acc[me.ITCN], "rf": acc[me.REGF]},
        "cycles": sr.total_time,
        "batch_nnd": batch,
        "search": "solve_loopblocking+gbuf_bypass" if solve else "exhaustive",
        "seconds": round(seconds, 4),
    }


def schedule_or_skip(c: Record) -> Record:
    """``schedule``, or a ``skipped`` record where nn-dataflow's Eyeriss mapper refuses the shape
    (MapEyeriss asserts >= 50% PE utilisation of the array, e.g. 5x5 filters on 8x8 maps on 12x14)."""
    try:
        return schedule(c)
    except AssertionError as exc:
        return {"id": c["id"], "skipped": f"nn-dataflow AssertionError: {exc}"}


def eyeriss_isca16() -> dict[str, Any]:
    """The `test_eyeriss_isca16` computation: AlexNet, batch 16, 16x16 PEs, 128 KB GLB, 512 B RF."""
    from nn_dataflow.nns import import_network

    net = import_network("alex_net")
    start = time.perf_counter()
    tops, _ = NNDataflow(net, 16, resource(16, 16, 128, 512), COST, MapStrategyEyeriss).schedule_search(Option())
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {}
    for name in [f"conv{i}" for i in range(1, 6)] + [f"fc{i}" for i in range(1, 4)]:
        e = dict.fromkeys(("alu", "dram", "buf", "array", "rf"), 0.0)
        for part in net:
            if part and part.startswith(name):
                sr = tops[0][part]
                e["alu"] += sr.total_ops * COST.mac_op / 1e9
                for key, lvl in (("dram", me.DRAM), ("buf", me.GBUF), ("array", me.ITCN), ("rf", me.REGF)):
                    e[key] += sr.total_accesses[lvl] * COST.mem_hier[lvl] / 1e9
        out[name] = e
    return {"layers": out, "seconds": round(seconds, 3), "units": "1e9 x MAC energy"}


def whole_network(solve: bool) -> dict[str, Any]:
    """Time scheduling every layer of DARTS_V2 (20 cells, C=36, 32x32) on 16x16 PEs, 128 KB, 512 B."""
    layers = [
        {**r, "pe_rows": 16, "pe_cols": 16, "gbuf_kb": 128, "rbuf_bytes": 512, "dataflow": "RS"}
        for r in darts_v2_layers()
    ]
    start, cpu = time.perf_counter(), time.process_time()
    per_kind: dict[str, float] = {}
    unique: dict[tuple, float] = {}
    total = dict.fromkeys(("total", "mac", "rf", "noc", "glb", "dram"), 0.0)
    cycles = 0
    failed = []
    for r in layers:
        try:
            rec = schedule(r, solve)
        except (AssertionError, RuntimeError) as exc:
            failed.append({"layer": r["layer"], "error": str(exc)[:200]})
            continue
        per_kind[r["kind"]] = per_kind.get(r["kind"], 0.0) + rec["seconds"]
        key = tuple(r[f] for f in ("kind", "N", "C", "K", "h_in", "h_out", "R", "stride", "groups"))
        unique.setdefault(key, rec["seconds"])
        for k in total:
            total[k] += rec["energy"][k]
        cycles += rec["cycles"]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "network": "DARTS_V2, 20 cells, C=36, 3x32x32, batch 1 (auxiliary head excluded)",
        "accelerator": {"pe_rows": 16, "pe_cols": 16, "gbuf_kb": 128, "rbuf_bytes": 512, "dataflow": "RS"},
        "search": "solve_loopblocking, GLB bypass allowed (the CLI's defaults)"
        if solve
        else "exhaustive loop blocking, no GLB bypass (Option() as the Eyeriss tests)",
        "layers": len(layers),
        "unique_layer_shapes": len(unique),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "seconds_unique_shapes": round(sum(unique.values()), 3),
        "seconds_by_kind": {k: round(v, 3) for k, v in per_kind.items()},
        "energy": total,
        "cycles": cycles,
        "failed_layers": failed,
        "timed": "every layer scheduled independently (single-layer networks, DRAM in/out), "
        "no result cache; one process; depthwise as 1->1 conv with channels folded into batch",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ids", default="")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--eyeriss", action="store_true", help="rerun test_eyeriss_isca16 (AlexNet, ~1 min)")
    p.add_argument("--whole-network", action="store_true", help="time the whole DARTS_V2 network")
    p.add_argument("--solve", action="store_true", help="with --whole-network: --solve-loopblocking")
    args = p.parse_args()
    extra = {"version": version("nn-dataflow"), "sympy": version("sympy")}
    if args.eyeriss or args.whole_network:
        res = eyeriss_isca16() if args.eyeriss else whole_network(args.solve)
        name = "eyeriss_isca16" if args.eyeriss else f"whole_network{'_solve' if args.solve else ''}"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"nn_dataflow_{name}.json").write_text(json.dumps({**extra, **res}, indent=1))
        print(json.dumps({k: v for k, v in res.items() if k != "layers"}, indent=1), file=sys.stderr)
        return
    run_all("nn_dataflow", energy_configs("nn_dataflow"), schedule_or_skip, args, extra)


if __name__ == "__main__":
    main()
