"""ZigZag as a reference cost: per-layer agreement with yoso's simulator, and the GP trained on ZigZag's labels.

    .venv/bin/python benchmarks/bench_zigzag.py [--part agreement|gp|both] [--lpf-limit 6] [--gp-lpf-limit 6]
        [--n-train 40] [--n-test 10] [--csv FILE]

Needs the ``zigzag`` extra (``make install-zigzag``). Part 1 costs every distinct layer shape of DARTS_V2 and of a
candidate of the elastic default space (the seed-0 draw of ``space=yoso_elastic``) on one accelerator per dataflow
(WS, OS, IS and the connectivities C-K, P-Q, K-PQ) with both models and prints, per network and dataflow, the
ZigZag / simulator ratios of energy, per-level accesses and cycles (median and range over the layer shapes,
and the network's count-weighted total). Energy is the dynamic energy both model: MAC + RF + GLB + DRAM (yoso's
array-network energy "noc" and leakage have no ZigZag counterpart and are left out of both). Part 2 labels
``n_train + n_test`` candidates of the default joint space with ZigZag (``reference_cost=zigzag``), trains the GP
(``cost_model=gp``) on the first ``n_train`` and prints its held-out MAPE, and the time per design of ZigZag
(cold), the simulator (cold) and the GP. What else ran on the machine (load average, the busiest processes) is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from yoso import hw
from yoso.app.cli import compose
from yoso.app.run import validate_hardware
from yoso.hw import zigzag
from yoso.hw.layers import deployment_layers
from yoso.predictor.cost import GPCostModel, HwSetup, SimulatorCostModel
from yoso.predictor.dataset import SampleSet
from yoso.predictor.zigzag_cost import ZigZagCostModel
from yoso.space.accelerator import Accelerator
from yoso.space.known import load_genotype

#: The accelerator of the agreement table, in each dataflow (Table 1's ranges: 16x16 PEs, 256 KB GLB, 512 B RF).
PE_ROWS, PE_COLS, GBUF_KB, RBUF_B = 16, 16, 256, 512
DATAFLOWS = ("WS", "OS", "IS", "C-K", "P-Q", "K-PQ")
#: The compared quantities: dynamic energy, accesses of the levels both model, cycles.
ACCESS_LEVELS = ("rf", "glb", "dram")
DYNAMIC = ("mac", "rf", "glb", "dram")


def busy() -> str:
    """The load average and the five busiest other processes (what else was running)."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    top = subprocess.run(["ps", "-eo", "pcpu,etime,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout
    rows = [r.strip() for r in top.splitlines()[1:] if r.strip() and str(os.getpid()) not in r][:5]
    return f"load average {load}; busiest processes (%cpu, elapsed, command): " + "; ".join(rows)


def elastic_genotype() -> Any:
    """The genotype of the seed-0 candidate of the default (elastic) joint space."""
    setup = validate_hardware(compose([])).hw
    return setup.space.decode(setup.space.sample(1, 0)[0])[0], setup


def agreement(lpf_limit: int, csv_path: Path | None) -> None:
    """Part 1: the per-layer table, one row per (network, dataflow)."""
    tech = hw.load_tech()
    genotype, setup = elastic_genotype()
    networks = {"DARTS_V2": load_genotype("DARTS_V2"), "elastic seed 0": genotype}
    rows: list[dict[str, Any]] = []
    print(
        f"accelerator {PE_ROWS}x{PE_COLS}/{GBUF_KB}KB/{RBUF_B}B, tech {tech.name}, deploy {setup.deploy}, "
        f"ZigZag {zigzag.installed_version()} LOMA lpf_limit {lpf_limit}"
    )
    header = (
        f"{'network':<15} {'dataflow':<6} {'shapes':>6} {'energy med [min,max]':>24} {'total':>6} "
        + " ".join(f"{k + ' med':>9}" for k in ACCESS_LEVELS)
        + f" {'cycles med [min,max]':>24} {'total':>6} {'s/shape':>7}"
    )
    print("ratios ZigZag / simulator per layer shape (dynamic energy: MAC+RF+GLB+DRAM)")
    print(header)
    for net, g in networks.items():
        counts = Counter(deployment_layers(g, setup.deploy, names=False))
        for df in DATAFLOWS:
            acc = Accelerator(PE_ROWS, PE_COLS, GBUF_KB, RBUF_B, df)
            er, cr, ar = [], [], {k: [] for k in ACCESS_LEVELS}
            tot = np.zeros(4)  # zigzag energy, simulator energy, zigzag cycles, simulator cycles
            start = time.perf_counter()
            for shape, n in counts.items():
                z = zigzag.zigzag_layer(shape, acc, tech, lpf_limit)
                s = hw.simulate_layer(shape, acc, tech)
                ze, se = sum(z.energy_pj[k] for k in DYNAMIC), sum(s.energy_pj[k] for k in DYNAMIC)
                er.append(ze / se)
                cr.append(z.cycles / s.cycles)
                for k in ACCESS_LEVELS:
                    if s.accesses[k] > 0 or z.accesses[k] > 0:
                        ar[k].append(z.accesses[k] / s.accesses[k] if s.accesses[k] else float("inf"))
                tot += n * np.array([ze, se, z.cycles, s.cycles])
                rows.append(
                    {
                        "network": net,
                        "dataflow": df,
                        "layer": f"{shape.kind} C{shape.C} K{shape.K} {shape.H}x{shape.W} {shape.R}x{shape.S} "
                        f"s{shape.stride[0]} g{shape.groups} d{shape.dilation}",
                        "count": n,
                        "zigzag_mapping": f"{z.mapping.rows} x {z.mapping.cols} held {z.mapping.held or '-'}",
                        **{f"zigzag_energy_{k}_pj": z.energy_pj[k] for k in DYNAMIC},
                        **{f"sim_energy_{k}_pj": s.energy_pj[k] for k in (*DYNAMIC, "noc")},
                        **{f"zigzag_{k}_accesses": z.accesses[k] for k in ACCESS_LEVELS},
                        **{f"sim_{k}_accesses": s.accesses[k] for k in ACCESS_LEVELS},
                        "zigzag_cycles": z.cycles,
                        "sim_cycles": s.cycles,
                    }
                )
            seconds = (time.perf_counter() - start) / len(counts)

            def med(xs: list[float]) -> str:
                return f"{median(xs):.2f}" if xs else "-"

            print(
                f"{net:<15} {df:<6} {len(counts):>6} "
                f"{f'{median(er):.2f} [{min(er):.2f},{max(er):.2f}]':>24} {tot[0] / tot[1]:>6.2f} "
                + " ".join(f"{med(ar[k]):>9}" for k in ACCESS_LEVELS)
                + f" {f'{median(cr):.2f} [{min(cr):.2f},{max(cr):.2f}]':>24} {tot[2] / tot[3]:>6.2f} {seconds:>7.2f}",
                flush=True,
            )
    if csv_path is not None:
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"per-layer rows: {csv_path}")


def gp_on_zigzag(n_train: int, n_test: int, lpf_limit: int, labels: Path | None) -> None:
    """Part 2: ZigZag labels for the default space's candidates, the GP trained on them, MAPE and speed."""
    base = validate_hardware(compose([])).hw
    setup = HwSetup(
        space=base.space,
        deploy=base.deploy,
        tech=base.tech,
        predictor=replace(base.predictor, n_train=n_train, n_test=n_test),
        reference={"_target_": "yoso.predictor.zigzag_cost.ZigZagCostModel", "lpf_limit": lpf_limit},
    )
    reference = ZigZagCostModel(setup, lpf_limit=lpf_limit)
    vectors = setup.space.sample(n_train + n_test, np.random.default_rng(setup.predictor.seed))
    energy, latency, seconds = (
        np.full(len(vectors), np.nan),
        np.full(len(vectors), np.nan),
        np.full(len(vectors), np.nan),
    )
    done = 0
    if labels is not None and labels.is_file():  # the labels of an interrupted run of the same settings
        with np.load(labels) as old:
            k = min(len(old["vectors"]), len(vectors))  # a longer draw of one seed starts with the shorter one
            if (old["vectors"][:k] == vectors[:k]).all() and old["lpf"] == lpf_limit:
                for mine, theirs in ((energy, old["energy"]), (latency, old["latency"]), (seconds, old["seconds"])):
                    mine[:k] = theirs[:k]
                done = int(np.isfinite(energy[:k]).sum())
                print(f"  resumed {done} ZigZag labels from {labels}")
    start = time.perf_counter()
    for i, v in enumerate(vectors):  # one at a time: each design's ZigZag time (layer cache of this process only)
        if i < done:
            continue
        t = time.perf_counter()
        e, l = reference(v[None])
        seconds[i] = time.perf_counter() - t
        energy[i], latency[i] = e[0], l[0]
        if labels is not None:
            np.savez(labels, vectors=vectors, energy=energy, latency=latency, seconds=seconds, lpf=lpf_limit)
        if (i + 1) % 10 == 0:
            print(f"  labelled {i + 1}/{len(vectors)} ({time.perf_counter() - start:.0f} s)", flush=True)
    train = SampleSet(vectors[:n_train], energy[:n_train], latency[:n_train], "zigzag-bench-train", 0)
    test = SampleSet(vectors[n_train:], energy[n_train:], latency[n_train:], "zigzag-bench-test", 0)
    model = GPCostModel(setup, progress=False)
    t = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t
    pred = model.predict(test.vectors)
    mape_e = float(np.mean(np.abs(pred.energy_mj - test.energy_mj) / test.energy_mj) * 100)
    mape_l = float(np.mean(np.abs(pred.latency_ms - test.latency_ms) / test.latency_ms) * 100)
    gp_s = []
    for v in test.vectors:  # one design at a time, as ZigZag was timed
        t = time.perf_counter()
        model.predict(v[None])
        gp_s.append(time.perf_counter() - t)
    simulator = SimulatorCostModel(replace(setup, reference={"_target_": "yoso.predictor.cost.SimulatorCostModel"}))
    sim_s, sim_e = [], []
    for v in test.vectors:
        hw.clear_cache()
        t = time.perf_counter()
        e, _ = simulator(v[None])
        sim_s.append(time.perf_counter() - t)
        sim_e.append(e[0])
    zz, gp, sim = float(np.mean(seconds)), float(np.mean(gp_s)), float(np.mean(sim_s))
    print(
        f"GP on ZigZag labels: {n_train} train / {n_test} held-out candidates of the default space, ZigZag lpf_limit "
        f"{lpf_limit}; GP fit {fit_s:.1f} s"
    )
    print(f"  held-out MAPE: energy {mape_e:.2f} %, latency {mape_l:.2f} % (paper: < 5 %)")
    print(
        f"  time per design: ZigZag {zz:.2f} s (mean over {len(seconds)}, median {np.median(seconds):.2f} s; the layer "
        f"cache of its process warm with the designs before it), "
        f"simulator {sim * 1e3:.2f} ms (cold), GP {gp * 1e3:.2f} ms (batch of 1)"
    )
    print(
        f"  speed ratio ZigZag / GP: {zz / gp:.0f}x (paper: ~2000x over its simulator); simulator / GP: {sim / gp:.1f}x"
    )
    # the same GP on the simulator's labels of the same candidates: how much of the error is the sample count
    sim_train_e, sim_train_l = simulator(train.vectors)
    sim_test_e, sim_test_l = simulator(test.vectors)
    on_sim = GPCostModel(simulator.setup, progress=False).fit(
        SampleSet(train.vectors, sim_train_e, sim_train_l, "simulator-bench-train", 0)
    )
    p_sim = on_sim.predict(test.vectors)
    print(
        f"  the same GP on the simulator's labels of the same {n_train} candidates: held-out MAPE energy "
        f"{float(np.mean(np.abs(p_sim.energy_mj - sim_test_e) / sim_test_e) * 100):.2f} %, latency "
        f"{float(np.mean(np.abs(p_sim.latency_ms - sim_test_l) / sim_test_l) * 100):.2f} %"
    )
    ratio = np.asarray(sim_e) / test.energy_mj
    print(f"  simulator / ZigZag energy on the held-out designs: median {np.median(ratio):.2f} (incl. noc, leakage)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("agreement", "gp", "both"), default="both")
    p.add_argument("--lpf-limit", type=int, default=zigzag.LPF_LIMIT, help="LOMA's limit for the agreement table")
    p.add_argument("--gp-lpf-limit", type=int, default=zigzag.LPF_LIMIT, help="LOMA's limit for the GP's labels")
    p.add_argument("--n-train", type=int, default=40)
    p.add_argument("--n-test", type=int, default=10)
    p.add_argument("--labels", type=Path, default=None, help="keep the GP part's ZigZag labels here (.npz; resumable)")
    p.add_argument("--csv", type=Path, default=None, help="write the per-layer rows of the agreement table here")
    args = p.parse_args(argv)
    if not zigzag.available():
        print(f"zigzag-dse is not installed: {zigzag.INSTALL_HINT}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(f"before: {busy()}")
    if args.part in ("agreement", "both"):
        agreement(args.lpf_limit, args.csv)
    if args.part in ("gp", "both"):
        gp_on_zigzag(args.n_train, args.n_test, args.gp_lpf_limit, args.labels)
    print(f"layers that needed a fallback of yoso.hw.zigzag.zigzag_layer: {dict(zigzag.FALLBACKS) or 'none'}")
    print(f"after: {busy()}")
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
