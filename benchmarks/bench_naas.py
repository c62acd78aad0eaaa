"""NAAS's two claims (Lin et al., DAC 2021) measured on yoso's networks, data and 65 nm technology.

(i) **Connectivity + mapping + sizing versus sizing only.** For each of the six known networks and
the elastic default's best design (``--elastic-best``, a ``best.yaml`` of ``python search.py``),
the accelerator alone is searched (the network fixed) with the same budget, by evolution (NAAS's
method) and by REINFORCE, 3 seeds: once over ``accelerator=naas`` (rows, columns, connectivity,
buffers, loop order) and once over its sizing only (rows, columns, buffers) with the
connectivity and loop order fixed to NVDLA's (``C-K``, weights held: loop order ``KCP``). The
objective is the energy-delay product (EDP, mJ x ms) under the simulator; printed: the EDP ratio
sizing-only / full of the best designs, per network, mean and range over the seeds.

(ii) **The best searched design against an Eyeriss-like design of the same PE count** (12x14 PEs,
108 KB global buffer, 512 B register file, row stationary): a joint search (network and
accelerator, ``accelerator=naas`` at 12x14 PEs, ``reward=energy``) by the full pipeline
(HyperNet accuracy, GP cost, final step with stand-alone training); the Eyeriss-like design running
the same network, and running DARTS_V2; and for each of the two networks the least-EDP accelerator an
evolution search finds at 168 PEs (as in (i)). Printed: EDP and the Eyeriss-like EDP of the same
network over it, with each network's stand-alone test accuracy (size and 95 % interval).

NAAS's setting differs: ImageNet networks, its own cost model and technology. Here: CIFAR-size
deployment networks (hw.deploy), the Fashion-MNIST accuracy of yoso's default data, the
eyeriss_65nm technology. Run alone on a quiet machine:
``python benchmarks/bench_naas.py [--quick] [--budget 200] [--seeds 0,1,2] [--elastic-best FILE]
[--standalone-cache FILE] [--claims i,ii] [--systolic-only]``.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict

from yoso.app.cli import compose, quiet_libraries
from yoso.hw import Deploy, evaluate, load_tech
from yoso.search.strategy import Evaluation, build_strategy
from yoso.space import Accelerator, AcceleratorSpace, Genotype, known_genotype
from yoso.space.joint import Decision
from yoso.space.known import KNOWN_GENOTYPES
from yoso.tables import format_table

#: The sizing-only baselines' fixed connectivity and loop order (points of the full space): NVDLA's input x output
#: channels and the TPU's C*R*S x K, both holding weights (P innermost).
SIZING_ONLY = {
    "NVDLA-like C-K/KCP": {"connectivity": ["C-K"], "loop_orders": ["KCP"]},
    "TPU-like CRS-K/KCP": {"connectivity": ["CRS-K"], "loop_orders": ["KCP"]},
}
#: The Eyeriss-like reference design of claim (ii) (Chen et al. ISCA 2016: 12x14 PEs, 108 KB, 512 B, RS).
EYERISS = Accelerator(12, 14, 108, 512, "RS")
STRATEGIES = ("evolution", "reinforce")


class AcceleratorOnlySpace:
    """The accelerator decisions of a space as a space of their own (the network fixed), for the strategies."""

    def __init__(self, accelerators: AcceleratorSpace):
        self.accelerators = accelerators
        self.decisions = tuple(Decision(f"accel.{f}", c) for f, c in zip(accelerators.fields, accelerators.choices))
        self.vocab_sizes = np.array([d.vocab for d in self.decisions], dtype=np.int64)
        self.names = tuple(d.name for d in self.decisions)
        self.num_cell_decisions = self.num_dnn_decisions = 0
        self.num_accel_decisions = len(self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        return np.random.default_rng(rng).integers(0, self.vocab_sizes, size=(int(n), len(self)), dtype=np.int64)

    def check(self, vectors: Any) -> np.ndarray:
        return np.atleast_2d(np.asarray(vectors, dtype=np.int64))

    def accelerator(self, vector: np.ndarray) -> Accelerator:
        return self.accelerators.accelerator(*(int(i) for i in vector))


@dataclass(frozen=True)
class SearchResult:
    edp: float
    accelerator: Accelerator
    seconds: float


def accelerator_search(
    genotype: Genotype,
    space: AcceleratorOnlySpace,
    strategy_cfg: Any,
    seed: int,
    budget: int,
    deploy: Deploy,
    tech: Any,
) -> SearchResult:
    """The least-EDP accelerator for ``genotype`` a strategy finds in ``budget`` simulator evaluations."""
    strategy = build_strategy(OmegaConf.to_container(strategy_cfg, resolve=True), space, seed)
    best, best_acc, start, done = math.inf, None, time.perf_counter(), 0
    while done < budget:
        vectors = strategy.ask(min(strategy.batch_size, budget - done))
        accs = [space.accelerator(v) for v in vectors]
        energy, latency = evaluate([(genotype, a) for a in accs], tech=tech, deploy=deploy)
        edp = energy * latency
        n = len(vectors)
        strategy.tell(vectors, Evaluation(np.full(n, np.nan), energy, latency, -np.log(edp)))
        i = int(np.argmin(edp))
        if edp[i] < best:
            best, best_acc = float(edp[i]), accs[i]
        done += n
    return SearchResult(best, best_acc, time.perf_counter() - start)


def claim_one(args: argparse.Namespace, networks: dict[str, Genotype]) -> list[dict[str, Any]]:
    """Claim (i): the sizing-only / full EDP ratio of the best designs, per network and strategy, over the seeds."""
    cfg = compose(["accelerator=naas"])
    if args.systolic_only:  # the connectivities alone, without the named points (RS, OS) of the list
        cfg.accelerator.connectivity = [c for c in cfg.accelerator.connectivity if "-" in c]
    full = AcceleratorOnlySpace(AcceleratorSpace.from_config(cfg.accelerator))
    baselines = {
        name: AcceleratorOnlySpace(AcceleratorSpace.from_config(OmegaConf.merge(cfg.accelerator, fixed)))
        for name, fixed in SIZING_ONLY.items()
    }
    deploy, tech = Deploy.from_config(cfg.hw.deploy), load_tech(cfg.hw.get("tech"))
    sizes = ", ".join(f"{name} {b.accelerators.size:,}" for name, b in baselines.items())
    print(
        f"(i) accelerator-only searches, {args.budget} simulator evaluations each, seeds {args.seeds}; full space "
        f"{full.accelerators.size:,} accelerators ({', '.join(full.accelerators.fields)}); sizing only: {sizes}; "
        "objective: EDP under the simulator",
        flush=True,
    )
    rows = []
    for name, genotype in networks.items():
        for strategy in STRATEGIES:
            strategy_cfg = compose([f"strategy={strategy}"]).strategy
            fulls = [
                accelerator_search(genotype, full, strategy_cfg, seed, args.budget, deploy, tech) for seed in args.seeds
            ]
            top = min(fulls, key=lambda r: r.edp)
            for baseline, space in baselines.items():
                sizing = [
                    accelerator_search(genotype, space, strategy_cfg, seed, args.budget, deploy, tech)
                    for seed in args.seeds
                ]
                ratios = [s.edp / f.edp for s, f in zip(sizing, fulls)]
                best_sizing = min(sizing, key=lambda r: r.edp)
                rows.append(
                    {
                        "network": name,
                        "strategy": strategy,
                        "baseline": baseline,
                        "seeds": len(ratios),
                        "ratio_mean": statistics.fmean(ratios),
                        "ratio_min": min(ratios),
                        "ratio_max": max(ratios),
                        "best_full": str(top.accelerator),
                        "edp_full": top.edp,
                        "best_sizing": str(best_sizing.accelerator),
                        "edp_sizing": best_sizing.edp,
                        "seconds": sum(r.seconds for r in fulls + sizing),
                    }
                )
                r = rows[-1]
                print(
                    f"   {name:20s} {strategy:9s} vs {baseline}: EDP ratio {r['ratio_mean']:6.2f}x "
                    f"[{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]; best full {r['best_full']} "
                    f"({r['edp_full']:.4g} mJ*ms), best sizing-only {r['best_sizing']} ({r['edp_sizing']:.4g}); "
                    f"{r['seconds']:.0f} s",
                    flush=True,
                )
    return rows


def print_claim_one(rows: list[dict[str, Any]]) -> None:
    table = [
        {
            **r,
            "ratio": f"{r['ratio_mean']:.2f}x [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]",
            "edp_full": f"{r['edp_full']:.4g}",
            "edp_sizing": f"{r['edp_sizing']:.4g}",
        }
        for r in rows
    ]
    columns = [
        ("network", "network"),
        ("strategy", "strategy"),
        ("baseline", "sizing only"),
        ("ratio", "EDP sizing-only / full (mean [min, max] over seeds)"),
        ("best_full", "best full-space design"),
        ("edp_full", "EDP (mJ*ms)"),
        ("best_sizing", "best sizing-only design"),
        ("edp_sizing", "EDP (mJ*ms)"),
    ]
    print(format_table(table, columns, title="(i) connectivity + mapping + sizing vs sizing only", markdown=True))
    for strategy in STRATEGIES:
        for baseline in SIZING_ONLY:
            mine = [r["ratio_mean"] for r in rows if r["strategy"] == strategy and r["baseline"] == baseline]
            if mine:
                geo = math.exp(statistics.fmean(math.log(x) for x in mine))
                print(
                    f"   {strategy} vs {baseline}: geometric mean over {len(mine)} networks {geo:.2f}x, "
                    f"per-network means in [{min(mine):.2f}, {max(mine):.2f}]"
                )


#: A ResNet-like cell pair without depthwise convolutions (two 3x3 convolutions and an identity shortcut per cell;
#: reduction by a strided 3x3 convolution): claim (i)'s contrast network.
RESNET_LIKE = Genotype(
    normal=(("conv3x3", 1), ("skip_connect", 1), ("conv3x3", 2), ("skip_connect", 2)),
    normal_concat=(3,),
    reduce=(("conv3x3", 1), ("conv3x3", 0), ("conv3x3", 2), ("skip_connect", 2)),
    reduce_concat=(3,),
)
#: Layer types of the per-type breakdown, by what a layer computes.
LAYER_TYPES = ("depthwise", "pointwise", "regular conv", "pooling", "other")


def layer_type(layer: Any) -> str:
    """Which of :data:`LAYER_TYPES` a deployment layer is."""
    if layer.kind == "dwconv" or (layer.kind == "conv" and layer.groups > 1 and layer.groups == layer.C):
        return "depthwise"
    if layer.kind == "conv":
        return "pointwise" if layer.R == layer.S == 1 else "regular conv"
    return "pooling" if layer.kind.startswith("pool") else "other"


def claim_layers(args: argparse.Namespace, networks: dict[str, Genotype]) -> None:
    """Claim (i) explained: for each network, the least-EDP design of the whole naas space and of each sizing-only
    space by exhaustive sweep (yoso.hw.sweep), and per layer type the energy and latency of each, and their EDP."""
    from yoso.hw import simulate

    cfg = compose(["accelerator=naas"])
    deploy, tech = Deploy.from_config(cfg.hw.deploy), load_tech(cfg.hw.get("tech"))
    spaces = {"full": AcceleratorSpace.from_config(cfg.accelerator).all()}
    for name, fixed in SIZING_ONLY.items():
        spaces[name] = AcceleratorSpace.from_config(OmegaConf.merge(cfg.accelerator, fixed)).all()
    print(
        f"(i) per layer type: exhaustive sweeps ({len(spaces['full']):,} accelerators, sizing only "
        f"{', '.join(f'{n} {len(a):,}' for n, a in spaces.items() if n != 'full')}), least EDP under the simulator, "
        f"mapping objective {tech.mapping_objective}",
        flush=True,
    )
    rows = []
    for name, genotype in {**networks, "ResNet-like (no depthwise)": RESNET_LIKE}.items():
        start = time.perf_counter()
        best = {}
        for space_name, accs in spaces.items():
            energy, latency = evaluate([(genotype, a) for a in accs], tech=tech, deploy=deploy)
            best[space_name] = accs[int(np.argmin(energy * latency))]
        per_type = {}
        for space_name, acc in best.items():
            result = simulate(genotype, acc, tech, deploy)
            totals = {t: [0.0, 0.0] for t in LAYER_TYPES}
            for r in result.layers:
                totals[layer_type(r.layer)][0] += r.energy_total_pj * 1e-9
                totals[layer_type(r.layer)][1] += r.cycles / (tech.clock_mhz * 1e3)
            per_type[space_name] = (result.energy_mj * result.latency_ms, totals)
        full_edp, full = per_type["full"]
        for baseline in SIZING_ONLY:
            base_edp, base = per_type[baseline]
            row = {"network": name, "baseline": baseline, "total": f"{base_edp / full_edp:.2f}x"}
            for t in LAYER_TYPES:
                (ef, lf), (eb, lb) = full[t], base[t]
                row[t] = (
                    "-"
                    if ef == 0
                    else f"{eb * lb / (ef * lf):.2f}x (E {eb / ef:.2f}, L {lb / lf:.2f}; {ef / sum(v[0] for v in full.values()):.0%} of E)"
                )
            rows.append(row)
        print(
            f"   {name}: full {best['full']}, "
            + ", ".join(f"{n} {a}" for n, a in best.items() if n != "full")
            + f" ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    columns = [("network", "network"), ("baseline", "sizing only"), ("total", "EDP sizing-only / full")]
    columns += [(t, f"{t}: EDP ratio (energy, latency ratios; share of the full design's energy)") for t in LAYER_TYPES]
    print(format_table(rows, columns, title="(i) per layer type", markdown=True))


def claim_two(args: argparse.Namespace, out_dir: Path) -> None:
    """Claim (ii): a joint search at Eyeriss's PE count against the Eyeriss-like design, with accuracies."""

    from yoso.app.pipeline import run_search
    from yoso.app.run import validate_config
    from yoso.app.two_stage import cached_accuracy, standalone_key
    from yoso.stats import format_accuracy

    overrides = [
        "accelerator=naas",
        f"accelerator.pe_rows=[{EYERISS.pe_rows}]",
        f"accelerator.pe_cols=[{EYERISS.pe_cols}]",
        "reward=energy",
        "logger=none",
        f"paths.output_dir={out_dir / 'joint'}",
        f"search.iterations={args.joint_iterations}",
    ]
    if args.quick:
        overrides.append("experiment=smoke")
    cfg = compose(overrides)
    with open_dict(cfg):
        cfg.hydra = None
    print(
        f"\n(ii) joint search (network + accelerator at {EYERISS.pe_rows}x{EYERISS.pe_cols} PEs): "
        f"python search.py {' '.join(overrides)}",
        flush=True,
    )
    start = time.perf_counter()
    best = run_search(cfg)
    print(f"   search and final step: {time.perf_counter() - start:.0f} s", flush=True)
    genotype = Genotype.from_dict(best["genotype"])
    searched = Accelerator.from_dict(best["accelerator"])
    deploy, tech = Deploy.from_config(cfg.hw.deploy), load_tech(cfg.hw.get("tech"))
    pairs = [(genotype, searched), (genotype, EYERISS), (known_genotype("DARTS_V2"), EYERISS)]
    energy, latency = evaluate(pairs, tech=tech, deploy=deploy)
    run = validate_config(cfg)
    cache = args.standalone_cache or run.cache_dir / "standalone.json"
    train = run.standalone_trainer(out_dir / "standalone")
    darts = cached_accuracy(Path(cache), standalone_key(run), "DARTS_V2", lambda: train(KNOWN_GENOTYPES["DARTS_V2"]))
    acc_searched = format_accuracy(best["test_accuracy"], best.get("test_accuracy_n"))
    acc_darts = format_accuracy(darts[1], darts[3])
    # the accelerator alone searched for least EDP at 168 PEs (evolution, as claim (i)), for each network
    space = AcceleratorOnlySpace(AcceleratorSpace.from_config(cfg.accelerator))
    strategy_cfg = compose(["strategy=evolution"]).strategy
    edp_best = {
        name: min(
            (accelerator_search(g, space, strategy_cfg, seed, args.budget, deploy, tech) for seed in args.seeds),
            key=lambda r: r.edp,
        )
        for name, g in (("searched network", genotype), ("DARTS_V2", known_genotype("DARTS_V2")))
    }
    found = [
        (
            f"{name} on the least-EDP accelerator of an evolution search ({args.budget} evaluations, best of "
            f"{len(args.seeds)} seeds)",
            r.accelerator,
            acc_searched if name == "searched network" else acc_darts,
        )
        for name, r in edp_best.items()
    ]
    more_e, more_l = evaluate(
        [(genotype, found[0][1]), (known_genotype("DARTS_V2"), found[1][1])], tech=tech, deploy=deploy
    )
    designs = [
        ("searched network on the searched accelerator (the joint search's choice)", searched, acc_searched),
        ("searched network on Eyeriss-like", EYERISS, acc_searched),
        *found[:1],
        ("DARTS_V2 on Eyeriss-like", EYERISS, acc_darts),
        *found[1:],
    ]
    energy = [energy[0], energy[1], more_e[0], energy[2], more_e[1]]
    latency = [latency[0], latency[1], more_l[0], latency[2], more_l[1]]
    eyeriss_edp = {"searched network": energy[1] * latency[1], "DARTS_V2": energy[3] * latency[3]}
    rows = []
    for (design, acc, accuracy), e, l in zip(designs, energy, latency):
        network = "DARTS_V2" if design.startswith("DARTS_V2") else "searched network"
        rows.append(
            {
                "design": design,
                "accelerator": str(acc),
                "accuracy": accuracy,
                "energy": e,
                "latency": l,
                "edp": e * l,
                "ratio": eyeriss_edp[network] / (e * l),
            }
        )
    table = [
        {
            **r,
            "energy": f"{r['energy']:.4g}",
            "latency": f"{r['latency']:.4g}",
            "edp": f"{r['edp']:.4g}",
            "ratio": f"{r['ratio']:.2f}x",
        }
        for r in rows
    ]
    columns = [
        ("design", "design"),
        ("accelerator", "accelerator"),
        ("accuracy", "test accuracy (95 % CI, n)"),
        ("energy", "energy (mJ)"),
        ("latency", "latency (ms)"),
        ("edp", "EDP (mJ*ms)"),
        ("ratio", "Eyeriss-like EDP / EDP (same network)"),
    ]
    print(format_table(table, columns, title="(ii) searched design vs Eyeriss-like at 168 PEs", markdown=True))
    print(f"   searched genotype: {genotype.to_json()}")


def networks_of(args: argparse.Namespace) -> dict[str, Genotype]:
    """The six known networks (two with --quick) and the elastic default's best design when given."""
    names = list(KNOWN_GENOTYPES)[:2] if args.quick else list(KNOWN_GENOTYPES)
    out = {name: known_genotype(name) for name in names}
    if args.elastic_best:
        import yaml

        best = yaml.safe_load(Path(args.elastic_best).read_text())
        out["elastic default best"] = Genotype.from_dict(best["genotype"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two networks, one seed, a short budget, a smoke joint search")
    p.add_argument("--budget", type=int, default=200, help="simulator evaluations per accelerator search")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--elastic-best", help="best.yaml of a default search (the elastic default's best design)")
    p.add_argument("--joint-iterations", type=int, default=100, help="iterations of claim (ii)'s joint search")
    p.add_argument("--standalone-cache", help="a stand-alone accuracy cache (e.g. a two-stage run's standalone.json)")
    p.add_argument("--out", default="logs/bench_naas", help="folder of claim (ii)'s search run")
    p.add_argument(
        "--claims",
        default="i,ii",
        help="which claims to measure: i, layers (claim i per layer type, exhaustive), ii; comma-separated",
    )
    p.add_argument(
        "--systolic-only",
        action="store_true",
        help="claim (i) over the connectivities alone (without the named RS and OS of accelerator=naas)",
    )
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        args.seeds, args.budget, args.joint_iterations = args.seeds[:1], min(args.budget, 40), 8
    logging.getLogger("yoso").setLevel(logging.WARNING)
    quiet_libraries()  # Lightning's tips and deprecation noise around claim (ii)'s trainings
    torch.set_num_threads(1)  # the controller's small LSTM: threads only contend
    claims = set(args.claims.split(","))
    print(__doc__.split("\n\n")[0])
    if "i" in claims:
        rows = claim_one(args, networks_of(args))
        print()
        print_claim_one(rows)
    if "layers" in claims:
        claim_layers(args, networks_of(args))
    if "ii" in claims:
        claim_two(args, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
