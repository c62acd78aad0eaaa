"""Table-2 sanity check: each known genotype on its best accelerator of the default space, next to the paper.

``python -m yoso.app.table2 [hydra overrides]`` composes the search config (accelerator
space, ``hw.deploy``, ``hw.tech``), evaluates every accelerator of the space for each of the
six known genotypes with the batch API, and prints the best by energy and by latency
beside the YOSO paper's Table 2 (energy mJ, latency ms, accelerator).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from yoso.app.cli import compose
from yoso.hw.layers import Deploy
from yoso.hw.simulator import clear_cache, evaluate
from yoso.hw.tech import DEFAULT_TECH, Tech, load_tech
from yoso.reference import paper_results
from yoso.space.accelerator import Accelerator, AcceleratorSpace
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


def hardware(cfg: Any) -> tuple[list[Accelerator], Deploy, Tech]:
    """Every accelerator of the config's space, its deployment macro and technology constants."""
    space = AcceleratorSpace.from_config(cfg["accelerator"])
    tech = load_tech(cfg["hw"].get("tech", DEFAULT_TECH))
    return space.all(), Deploy.from_config(cfg["hw"]["deploy"]), tech


def enumerate_costs(
    genotype: Genotype, accs: Sequence[Accelerator], tech: Tech, deploy: Deploy, n_jobs: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (mJ) and latency (ms) of ``genotype`` on each accelerator of ``accs`` (simulator batch API)."""
    return evaluate([(genotype, a) for a in accs], tech=tech, deploy=deploy, n_jobs=n_jobs)


def paper_table2() -> dict[str, dict[str, Any]]:
    """The paper's Table 2 rows by model name as printed (NasNet-A, ..., YOSO_lat, YOSO_eer)."""
    return {r["model"]: r for r in paper_results()["table2"]}


def paper_accelerator(row: dict[str, Any]) -> Accelerator:
    """The accelerator of a paper Table 2 row."""
    return Accelerator(*map(int, row["pe"].split("x")), row["gbuf_kb"], row["rbuf_b"], row["dataflow"])


def table2(cfg: Any, n_jobs: int = 1) -> list[dict[str, Any]]:
    """For each known genotype, its best accelerator by energy and by latency, with the paper's figures."""
    accs, deploy, tech = hardware(cfg)
    paper = {PAPER_NAMES[name]: r for name, r in paper_table2().items() if name in PAPER_NAMES}
    rows = []
    for name, g in KNOWN_GENOTYPES.items():
        energy, latency = enumerate_costs(g, accs, tech, deploy, n_jobs)
        ie, il = int(np.argmin(energy)), int(np.argmin(latency))
        p = paper[name]
        paper_acc = paper_accelerator(p)
        ep, lp = evaluate([(g, paper_acc)], tech=tech, deploy=deploy)
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
    clear_cache()
    start = time.perf_counter()
    rows = table2(cfg)
    elapsed = time.perf_counter() - start
    n = sum(r["n_accelerators"] for r in rows)
    tech = load_tech(cfg["hw"].get("tech", DEFAULT_TECH))
    print(f"tech {tech.name}: {tech.mac_pj} pJ/MAC, clock {tech.clock_mhz:g} MHz, DRAM {tech.dram_gb_s:g} GB/s")
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
