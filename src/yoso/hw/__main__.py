"""Command line: ``python -m yoso.hw GENOTYPE --pe 16x32 --gbuf-kb 512 --rbuf-b 512 --dataflow OS [--json]``.

GENOTYPE is a known name (``DARTS_V2``) or a genotype YAML/JSON file; the dataflow is a named one
or a connectivity ROWS-COLS (``--dataflow PQ-K``, NAAS's description), ``--loop-order KCP`` fixes
the global-buffer tiling's loop order. Prints the per-layer
table and the totals, or with ``--json`` the totals and the energy breakdown. A bad value
prints the config validator's message and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from yoso.config import ConfigError
from yoso.hw.layers import Deploy
from yoso.hw.simulator import SimResult, simulate
from yoso.hw.tech import DEFAULT_TECH, MAPPING_OBJECTIVES, hw_tech
from yoso.space.accelerator import (
    DATAFLOWS,
    LOOP_DIMS,
    TILING_LOOPS,
    Accelerator,
    check_dataflow,
    check_loop_order,
    parse_pe_shape,
)
from yoso.space.known import KNOWN_GENOTYPES, load_genotype
from yoso.tables import format_table

CONFIG_ERROR_EXIT = 2


def _int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(key, text, "an integer") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yoso.hw", description=__doc__.splitlines()[0])
    p.add_argument("genotype", help=f"a known genotype {list(KNOWN_GENOTYPES)} or a genotype YAML/JSON file")
    p.add_argument("--pe", default="16x32", help="PE array ROWSxCOLS (8x8 .. 16x32)")
    p.add_argument("--gbuf-kb", default="512", help="global buffer KB (108 .. 1024)")
    p.add_argument("--rbuf-b", default="512", help="register file bytes per PE (64 .. 1024)")
    p.add_argument(
        "--dataflow",
        default="OS",
        help=f"a named dataflow {list(DATAFLOWS)} or a connectivity "
        f"ROWS-COLS of loop dimensions {LOOP_DIMS} (C-K, PQ-K)",
    )
    p.add_argument(
        "--loop-order",
        default=None,
        help=f"the global-buffer tiling's loop order, a permutation of "
        f"{TILING_LOOPS} outer to inner (default: the simulator's choice per layer)",
    )
    p.add_argument(
        "--tech", default=DEFAULT_TECH, help="technology name (package data yoso/hw/technologies) or a YAML path"
    )
    p.add_argument(
        "--mapping-objective",
        default=MAPPING_OBJECTIVES[0],
        help=f"what the mapper minimises per layer, one of {list(MAPPING_OBJECTIVES)} (hw.mapping_objective)",
    )
    p.add_argument("--json", action="store_true", help="print totals and breakdown as JSON")
    return p.parse_args(argv)


def print_table(res: SimResult) -> None:
    """Per-layer table and totals."""
    rows = [
        {
            "layer": r.layer.name,
            "kind": r.layer.kind,
            "CxHxW -> K": f"{r.layer.C}x{r.layer.H}x{r.layer.W} -> {r.layer.K}",
            "RxS/s": f"{r.layer.R}x{r.layer.S}/{r.layer.stride[0]}",
            "MACs": f"{r.macs:,}",
            "util": f"{r.utilisation:.2f}",
            "cycles": f"{r.cycles:,.0f}",
            "DRAM words": f"{r.accesses['dram']:,.0f}",
            "energy uJ": f"{r.energy_total_pj * 1e-6:.2f}",
        }
        for r in res.layers
    ]
    print(format_table(rows, title=str(res.accelerator)), end="")
    parts = "  ".join(f"{k} {v:.3f}" for k, v in res.breakdown.items())
    print(
        f"energy {res.energy_mj:.3f} mJ  latency {res.latency_ms:.3f} ms  utilisation {res.utilisation:.2f}  "
        f"MACs {res.macs:,}\nbreakdown (mJ): {parts}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        genotype = load_genotype(args.genotype)
        rows, cols = parse_pe_shape("--pe", args.pe)
        dataflow = check_dataflow("--dataflow", args.dataflow)
        order = None if args.loop_order is None else check_loop_order("--loop-order", args.loop_order)
        acc = Accelerator(rows, cols, _int("--gbuf-kb", args.gbuf_kb), _int("--rbuf-b", args.rbuf_b), dataflow, order)
        tech = hw_tech({"tech": args.tech, "mapping_objective": args.mapping_objective})
        res = simulate(genotype, acc, tech, Deploy())
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    if args.json:
        print(json.dumps({"energy_mj": res.energy_mj, "latency_ms": res.latency_ms, "breakdown": res.breakdown}))
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
