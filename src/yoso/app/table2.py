"""Table-2 sanity check: each known genotype on its best accelerator of the default space, next to the paper.

``python -m yoso.app.table2 [hydra overrides]`` composes the search config (accelerator
space, ``hw.deploy``, ``hw.tech``, ``target``, ``reference_cost``), evaluates every accelerator
of the space for each of the six known genotypes with the reference cost's batch API, and prints the best by energy and by latency
beside the YOSO paper's Table 2 (energy mJ, latency ms, accelerator).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from yoso.app.cli import compose
from yoso.app.run import Run, present, validate_hardware
from yoso.hw.simulator import clear_cache
from yoso.predictor.cost import ReferenceCostModel
from yoso.reference import paper_results
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import Genotype
from yoso.space.known import KNOWN_GENOTYPES

#: Table-2 model names -> yoso's known genotype names.
PAPER_NAMES = {
    "NasNet-A": "NASNet-A",
    "DARTS_V1": "DARTS_V1",
    "DARTS_V2": "DARTS_V2",
    "AmoebaNet-A": "AmoebaNet-A",
    "ENAS": "ENAS",
    "PNAS": "PNAS",
}


def enumerate_costs(
    genotype: Genotype, accs: Sequence[Accelerator], reference: ReferenceCostModel
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (mJ) and latency (ms) of ``genotype`` on each accelerator of ``accs`` by the reference cost."""
    return reference.evaluate_designs([(genotype, a) for a in accs])


def paper_table2() -> dict[str, dict[str, Any]]:
    """The paper's Table 2 rows by model name as printed (NasNet-A, ..., YOSO_lat, YOSO_eer)."""
    return {r["model"]: r for r in paper_results()["table2"]}


def paper_accelerator(row: dict[str, Any]) -> Accelerator:
    """The accelerator of a paper Table 2 row."""
    rows, cols = (int(n) for n in row["pe"].split("x"))
    return Accelerator(rows, cols, row["gbuf_kb"], row["rbuf_b"], row["dataflow"])


def table2(run: Run) -> list[dict[str, Any]]:
    """For each known genotype, its best accelerator of the run's space by energy and by latency (the run's
    reference cost on its target), with the paper's figures."""
    accs, reference = present(run.space, "space").accelerators.all(), run.reference_cost()
    paper = {PAPER_NAMES[name]: r for name, r in paper_table2().items() if name in PAPER_NAMES}
    rows = []
    for name, g in KNOWN_GENOTYPES.items():
        energy, latency = enumerate_costs(g, accs, reference)
        ie, il = int(np.argmin(energy)), int(np.argmin(latency))
        p = paper[name]
        paper_acc = paper_accelerator(p)
        ep, lp = reference.evaluate_designs([(g, paper_acc)])
        rows.append(
            {
                "genotype": name,
                "n_accelerators": len(accs),
                "best_energy": (float(energy[ie]), float(latency[ie]), str(accs[ie])),
                "best_latency": (float(energy[il]), float(latency[il]), str(accs[il])),
                "on_paper_accelerator": (float(ep[0]), float(lp[0]), str(paper_acc)),
                "paper": (p["energy_mj"], p["latency_ms"], str(paper_acc)),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    cfg = compose(sys.argv[1:] if argv is None else argv)
    run = validate_hardware(cfg)
    clear_cache()
    start = time.perf_counter()
    rows = table2(run)
    elapsed = time.perf_counter() - start
    n = sum(r["n_accelerators"] for r in rows)
    tech = present(run.hw, "hw").tech
    target = run.board.name if run.board is not None else "ASIC"
    print(
        f"{target}, tech {tech.name}: {tech.mac_pj} pJ/MAC, clock {tech.clock_mhz:g} MHz, DRAM {tech.dram_gb_s:g} GB/s"
    )
    print(f"{len(rows)} genotypes x {rows[0]['n_accelerators']} accelerators = {n} evaluations in {elapsed:.1f} s")
    head = f"{'genotype':12s} | {'min-energy design':34s} | {'min-latency design':34s} | {'yoso on paper acc':28s} | paper Table 2"
    print(head + "\n" + "-" * len(head))
    fmt = lambda t: f"{t[0]:6.2f} mJ {t[1]:5.2f} ms {t[2]:>18s}"  # noqa: E731
    for r in rows:
        print(
            f"{r['genotype']:12s} | {fmt(r['best_energy'])} | {fmt(r['best_latency'])} | "
            f"{r['on_paper_accelerator'][0]:6.2f} mJ {r['on_paper_accelerator'][1]:5.2f} ms | {fmt(r['paper'])}"
        )


if __name__ == "__main__":
    main()
