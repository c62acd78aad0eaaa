"""FPGA targets (docs/targets.md): the known networks on each board's best fitting accelerator, a searched design
under a frame-rate floor, and yoso's layer latency beside Auto-NBA's analytical FPGA model.

    .venv/bin/python benchmarks/bench_fpga.py [--quick] [--boards zcu102 ultra96] [--min-fps 30]
        [--search] [--search-overrides experiment=smoke ...]

1. **Known networks.** For each board (``conf/target``) and each of the six known genotypes
   (``yoso.space.known.KNOWN_GENOTYPES``, deployed with ``hw.deploy``), every accelerator of the
   board's space (``conf/accelerator/<board>.yaml``) that fits the device is costed with the
   simulator at the board's clock and bandwidth (``yoso.predictor.cost.OnBoard``); the table
   shows the fastest (least energy among equally fast): FPS, energy per frame, DSP/BRAM/URAM use.
2. **Searched design** (``--search``): ``search.py target=<board> constraints=hard
   constraints.min_fps=<floor>`` plus ``--search-overrides`` (e.g. ``experiment=smoke`` for a
   seconds-long run; the default is the full search, with HyperNet training); its best.yaml gives
   the accuracy (stand-alone training), FPS, energy and resource use.
3. **Auto-NBA** (Fu et al., ICML 2021; github.com/GATECH-EIC/Auto-NBA,
   ``analytical_model/analytical_prediction.py``, ``combined_latency`` with ``comp_mode=1``): its
   latency formula of a tiled convolution unrolled over output x input channels (Zhang et al.,
   FPGA 2015 style), re-expressed below for this comparison only, beside yoso's WS mapping of the
   same layer on the same Pm x Pn array at the same clock.

``--quick`` costs 24 accelerators per board, two networks and the Auto-NBA layers (a smoke test).
No design over 100 % of a resource is ever reported (the resource model marks it infinite).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from yoso.app.cli import compose
from yoso.app.run import validate_hardware
from yoso.hw import Layer, evaluate, simulate_layer
from yoso.hw.fpga import Board, fps
from yoso.predictor.cost import HwSetup
from yoso.space.accelerator import Accelerator
from yoso.space.known import KNOWN_GENOTYPES
from yoso.stats import format_accuracy
from yoso.tables import format_table

ROOT = Path(__file__).resolve().parents[1]
BOARDS = tuple(sorted(p.stem for p in (ROOT / "conf" / "target").glob("*.yaml") if p.stem != "asic_65nm"))


def board_setup(board: str, overrides: list[str] | None = None) -> HwSetup:
    return validate_hardware(compose([f"target={board}", *(overrides or [])])).hw


def usage_cells(board: Board, acc: Accelerator) -> dict[str, float]:
    row = board.usage([acc]).row(0)
    return {
        "dsp_pct": row["dsp_pct"],
        "bram_pct": row["bram36_pct"],
        "uram_pct": row["uram_pct"],
        "lut_pct": row["lut_pct"],
    }


def known_networks(board: str, quick: bool) -> list[dict]:
    """Each known network on the board's fastest fitting accelerator."""
    setup = board_setup(board)
    accs = setup.space.accelerators.all()
    if quick:
        accs = [accs[i] for i in np.random.default_rng(0).choice(len(accs), min(24, len(accs)), replace=False)]
    fitting = [a for a, ok in zip(accs, setup.board.usage(accs).fits) if ok]
    names = list(KNOWN_GENOTYPES)[:2] if quick else list(KNOWN_GENOTYPES)
    rows = []
    for name in names:
        genotype = KNOWN_GENOTYPES[name]
        dram_mj, latency = evaluate([(genotype, a) for a in fitting], tech=setup.tech, deploy=setup.deploy)
        energy, latency = setup.board.cost(fitting, dram_mj, latency)
        best = int(np.lexsort((energy, latency))[0])
        acc = fitting[best]
        rows.append(
            {
                "board": board,
                "network": name,
                "accelerator": str(acc),
                "fps": float(fps(latency[best])),
                "latency_ms": float(latency[best]),
                "energy_mj": float(energy[best]),
                **usage_cells(setup.board, acc),
                "fitting": f"{len(fitting)}/{len(accs)}",
            }
        )
    return rows


def searched(board: str, min_fps: float, overrides: list[str], out: Path | None) -> dict:
    """``search.py target=<board> constraints=hard constraints.min_fps=<floor>`` and its chosen design (its run
    directory kept under ``out``; None: a temporary one)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) if out is None else (out / board).resolve()
        run.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(ROOT / "search.py"),
            f"hydra.run.dir={run}",
            "logger=none",
            f"target={board}",
            "constraints=hard",
            f"constraints.min_fps={min_fps}",
            *overrides,
        ]
        result = subprocess.run(cmd, cwd=run, capture_output=True, text=True)
        best_path = run / "best.yaml"
        if result.returncode != 0 or not best_path.is_file():
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            return {"board": board, "accelerator": "none feasible", "note": " / ".join(tail)}
        best = yaml.safe_load(best_path.read_text())
    setup = board_setup(board, overrides)
    acc = Accelerator.from_dict(best["accelerator"], setup.space.accelerators.limits)
    return {
        "board": board,
        "min_fps": min_fps,
        "accelerator": str(acc),
        "accuracy": format_accuracy(best["accuracy"], best.get("accuracy_n")),
        "test_accuracy": format_accuracy(best["test_accuracy"], best.get("test_accuracy_n")),
        "fps": float(fps(best["latency_ms"])),
        "energy_mj": best["energy_mj"],
        **usage_cells(setup.board, acc),
    }


def auto_nba_cycles(layer: Layer, pm: int, pn: int, quant: int = 16) -> float:
    """Auto-NBA's ``combined_latency`` (comp_mode 1: Pm output x Pn input channels unrolled), re-expressed.

    Tiles as its search would pick on a large buffer: Tm = Pm, Tn = Pn, Tr = Tc = the output map
    (no row/column unrolling, Pr = Pc = 1). Per tile: compute Tr Tc Tm Tn K^2 / (Pm Pn) cycles
    overlapped with the input tile's load at 2-4 words per cycle, then the weight tile's load
    (not overlapped), and per output tile a write-back; the outer loops multiply (not rounded up).
    """
    k, h = layer.R, layer.out_h
    n_in, m_out = layer.C, layer.K
    tr = tc = h
    tm, tn = pm, pn
    scale = quant / 16
    comp = tr * tc * tm * tn * k * k / (pm * pn)
    tri, tci = max(1 + k - 1, tr), max(1 + k - 1, tc)  # its max(Pr + K - 1, Tr) with Pr = Pc = 1
    read_if = math.ceil(tn * tci * tri / max(min(4, pn), 2)) * scale
    read_we = math.ceil(tm * tn * k * k / max(min(4, pm), 2)) * scale
    write = (math.ceil(tm * tr * tc / max(min(4, pm), 2)) + tr * tc * (tm / pm)) * scale
    inner = write + (n_in / tn) * (max(comp, read_if) + read_we)
    return inner * (h / tc) * (h / tr) * (m_out / tm)


#: Layers of the CIFAR-10 deployment network (hw.deploy: C=36, 20 cells) for the Auto-NBA comparison.
COMPARISON_LAYERS = (
    Layer("conv", 3, 108, 32, 32, 3, 3, padding=1, name="stem 3x3, 3->108, 32x32"),
    Layer("conv", 36, 36, 32, 32, 3, 3, padding=1, name="3x3, 36->36, 32x32"),
    Layer("conv", 144, 36, 32, 32, name="1x1, 144->36, 32x32"),
    Layer("conv", 72, 72, 16, 16, 3, 3, padding=1, name="3x3, 72->72, 16x16"),
    Layer("conv", 144, 144, 8, 8, 5, 5, padding=2, name="5x5, 144->144, 8x8"),
)


def auto_nba_comparison(board: str, pn: int = 16, pm: int = 32) -> list[dict]:
    """Cycles of a few layers: yoso's WS mapping (rows <- input channels, cols <- output channels) vs Auto-NBA."""
    setup = board_setup(board)
    acc = Accelerator(pn, pm, 1024, 64, "WS", limits=None)
    rows = []
    for layer in COMPARISON_LAYERS:
        r = simulate_layer(layer, acc, setup.tech)
        theirs = auto_nba_cycles(layer, pm, pn)
        rows.append(
            {
                "layer": layer.name,
                "macs": layer.macs,
                "ideal": layer.macs / (pm * pn),
                "yoso_compute": r.compute_cycles,
                "yoso_dram": r.dram_cycles,
                "yoso": r.cycles,
                "auto_nba": theirs,
                "ratio": theirs / r.cycles,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="24 accelerators per board, two networks (smoke test)")
    parser.add_argument("--boards", nargs="*", default=list(BOARDS), choices=BOARDS)
    parser.add_argument("--min-fps", type=float, default=30.0)
    parser.add_argument("--search", action="store_true", help="also search each board under --min-fps")
    parser.add_argument("--search-overrides", nargs="*", default=[], help="e.g. experiment=smoke")
    parser.add_argument("--out", type=Path, help="keep the searches' run directories here (<out>/<board>)")
    parser.add_argument("--no-known", action="store_true", help="skip the known networks' table")
    args = parser.parse_args(argv)
    if not args.no_known:
        known = [row for board in args.boards for row in known_networks(board, args.quick)]
        columns = (
            "board",
            "network",
            "accelerator",
            "fps",
            "latency_ms",
            "energy_mj",
            "dsp_pct",
            "bram_pct",
            "uram_pct",
            "lut_pct",
            "fitting",
        )
        print(
            format_table(
                known,
                columns,
                title="known networks on each board's fastest fitting accelerator (hw.deploy; energy per frame)",
                markdown=True,
            )
        )
        assert all(row[k] <= 100.0 for row in known for k in ("dsp_pct", "bram_pct", "uram_pct", "lut_pct"))
    if args.search:
        found = [searched(board, args.min_fps, args.search_overrides, args.out) for board in args.boards]
        print(
            format_table(
                found,
                title=f"searched designs, constraints=hard, min_fps={args.min_fps:g} "
                f"({' '.join(args.search_overrides) or 'full search'})",
                markdown=True,
            )
        )
    print(
        format_table(
            auto_nba_comparison("zcu102"),
            title="cycles per layer on a 16x32 array (zcu102, 16-bit, "
            "1 MB buffer): yoso (WS) vs Auto-NBA's analytical model (comp_mode 1)",
            markdown=True,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
