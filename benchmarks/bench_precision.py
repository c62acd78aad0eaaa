"""Mixed precision against uniform 8-bit and 16-bit at matched accuracy, and 4-bit against 8-bit at the long budget
(issue 31, item 4).

    .venv/bin/python benchmarks/bench_precision.py --part search [--samples 20000] [--boards zcu102 ultra96]
    .venv/bin/python benchmarks/bench_precision.py --part long --bits 4    # and --bits 8 (resumable; one per core)
    .venv/bin/python benchmarks/bench_precision.py --part long-table

``search``: the same ``--samples`` candidates of ``space=yoso_elastic_precision`` (one seed: the same cells, scale
and accelerators) under three precision regimes: every stage at 8 bits, every stage at 16 (the stem and classifier
at 8 throughout), and mixed: the mixed space holds the uniform designs too, so its search sees the candidates with
their sampled stage bits, both uniform sets, and every stage-bit assignment (4^3) of the ``--refine`` lowest-energy
and lowest-latency candidates that reach the accuracy target. Accuracy is the predictor's on the precision space's table
(``accuracy_model=auto``), energy and latency the simulator's. At matched accuracy: each regime's lowest-energy (and
lowest-latency) candidate whose predicted accuracy reaches the target, the 90th percentile of the 16-bit regime's
predictions; those designs are trained stand-alone (quantised at their precisions) to check that their test
accuracies lie inside each other's 95 % intervals, and the ratios uniform / mixed are printed (HAQ's anchor
against 8-bit: 1.4-1.95x latency, 1.9x energy). On each board of ``--boards`` the same networks get the board's
best accelerator by exhaustive sweep (most FPS among designs that fit; least energy per frame), at each design's
datapath width.

``long``: four architectures of the long-budget table (``bench/fashion_mnist_long``, one per width, the shallowest
of each), trained at ``experiment=final`` with every stage at ``--bits`` (stem and classifier at 8), one row per
network appended to ``bench/precision_long/rows.jsonl``; ``long-table`` prints 4-bit against 8-bit (and the
unquantised long-table accuracy) with n and Wilson intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from yoso.app.cli import compose, set_num_threads  # noqa: E402

PRECISION = "space=yoso_elastic_precision"
LONG_ROWS = ROOT / "bench" / "precision_long" / "rows.jsonl"
#: The regimes of the search part: None keeps each candidate's sampled stage bits.
REGIMES: dict[str, int | None] = {"mixed": None, "uniform 8-bit": 8, "uniform 16-bit": 16}


def _stage_columns(space: Any) -> slice:
    at = space.names.index("net.bits0")
    return slice(at, at + 3)


def regime_vectors(space: Any, vectors: np.ndarray, bits: int | None) -> np.ndarray:
    """``vectors`` with every stage at ``bits`` (None: as sampled)."""
    out = vectors.copy()
    if bits is not None:
        out[:, _stage_columns(space)] = space.precision.bits.index(bits)
    return out


def _interval(acc: float, n: int) -> str:
    from yoso.stats import format_accuracy

    return format_accuracy(acc, n)


def _overlap(a: tuple[float, int], b: tuple[float, int]) -> bool:
    """Whether each accuracy lies inside the other's Wilson 95 % interval."""
    from yoso.stats import wilson_interval

    (pa, na), (pb, nb) = a, b
    la, ha = wilson_interval(pa, na)
    lb, hb = wilson_interval(pb, nb)
    return bool(la <= pb <= ha and lb <= pa <= hb)


def search_part(args: argparse.Namespace) -> int:
    from yoso.app.run import validate_config
    from yoso.hw import simulator as sim
    from yoso.hw.fpga import fps
    from yoso.hw.tech import load_tech

    cfg = compose([PRECISION, "reward=energy", "logger=none"])
    run = validate_config(cfg)
    space = run.space
    model = run.accuracy_model()
    if model is None:
        print("no accuracy table of the precision space's stand-alone config: build it with bench.py", file=sys.stderr)
        return 2
    vectors = space.sample(args.samples, args.seed)

    def score(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        energy, latency = sim.evaluate(v, space=space, tech=run.hw.tech, deploy=run.hw.deploy)
        return v, np.asarray(model(v), dtype=np.float64), energy, latency

    figures = {}
    for name, bits in REGIMES.items():
        start = time.perf_counter()
        figures[name] = score(regime_vectors(space, vectors, bits))
        print(f"{name}: {len(vectors)} candidates costed and predicted in {time.perf_counter() - start:.1f} s")
    target = float(np.quantile(figures["uniform 16-bit"][1], 0.9))
    print(f"\nmatched accuracy: predicted accuracy >= {target:.4f} (90th percentile of the 16-bit regime)")
    # the mixed space holds every uniform design too: its search sees the three sets, plus every stage-bit
    # assignment (4^3) of the --refine lowest-energy and lowest-latency candidates that reach the target
    pooled = [np.concatenate(parts) for parts in zip(*figures.values())]
    refined = []
    combos = np.array(np.meshgrid(*[range(len(space.precision.bits))] * 3, indexing="ij")).reshape(3, -1).T
    for column in (2, 3):
        ok = np.flatnonzero(pooled[1] >= target)
        best = pooled[0][ok[np.argsort(pooled[column][ok])[: args.refine]]]
        grid = np.repeat(best, len(combos), axis=0)
        grid[:, _stage_columns(space)] = np.tile(combos, (len(best), 1))
        refined.append(grid)
    start = time.perf_counter()
    extra = score(np.unique(np.concatenate(refined), axis=0))
    figures["mixed"] = tuple(np.concatenate([p, e]) for p, e in zip(pooled, extra))  # type: ignore[assignment]
    print(
        f"mixed: + {len(extra[0])} stage-bit assignments of the best candidates in {time.perf_counter() - start:.1f} s"
    )
    train = run.standalone_trainer(ROOT / "logs" / "bench_precision")
    cache_file = ROOT / "logs" / "bench_precision" / "standalone.json"  # stand-alone results, for a rerun
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, dict[str, Any]] = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    for criterion, column in (("energy", 2), ("latency", 3)):
        print(f"\n## least {criterion} at matched accuracy (ASIC, {run.hw.tech.name})\n")
        rows = []
        for name, (v, acc, energy, latency) in figures.items():
            ok = np.flatnonzero(acc >= target)
            i = int(ok[np.argmin(figures[name][column][ok])])
            genotype, accelerator = space.decode(v[i])
            key = genotype.to_json()  # its stand-alone accuracy does not depend on the accelerator
            if key not in chosen:
                val, test, val_n, test_n = train(genotype)
                chosen[key] = {"test": test, "test_n": test_n}
                cache_file.write_text(json.dumps(chosen))
            rows.append((name, genotype, accelerator, acc[i], energy[i], latency[i], chosen[key]))
        base = rows[0]
        print(
            "| regime | stage bits | width, depth | accelerator | predicted | stand-alone test | energy mJ | latency ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, g, a, p, e, l, t in rows:
            bits = "/".join(map(str, g.precision[1:]))
            test = _interval(t["test"], t["test_n"])
            print(f"| {name} | {bits} | {g.width:g}, {g.depth:.2g} | {a} | {p:.4f} | {test} | {e:.4g} | {l:.4g} |")
        for name, _g, _a, _p, e, l, t in rows[1:]:
            matched = _overlap((t["test"], t["test_n"]), (base[6]["test"], base[6]["test_n"]))
            print(
                f"{name} / mixed: energy {e / base[4]:.2f}x, latency {l / base[5]:.2f}x; stand-alone accuracies "
                f"{'inside' if matched else 'NOT inside'} each other's intervals"
            )
        if criterion == "energy":
            networks = [(name, g) for name, g, *_ in rows]
    for board_name in args.boards:
        board_run = validate_config(compose([PRECISION, f"target={board_name}", "logger=none"]))
        board, accs = board_run.board, board_run.space.accelerators.all()
        tech = board.tech(load_tech())
        print(f"\n## {board_name}: each network on its best accelerator of {len(accs)} (exhaustive)\n")
        print("| regime | stage bits | best FPS | at accelerator | least energy mJ/frame | at accelerator |")
        print("|---|---|---|---|---|---|")
        results = []
        for name, g in networks:
            dram, latency = sim.evaluate([(g, a) for a in accs], tech=tech, deploy=run.hw.deploy)
            energy, on_board = board.cost(accs, dram, latency, g.widest_bits)
            f = fps(on_board)
            i, j = int(np.argmax(f)), int(np.argmin(energy))
            results.append((f[i], energy[j]))
            bits = "/".join(map(str, g.precision[1:]))
            print(f"| {name} | {bits} | {f[i]:.1f} | {accs[i]} | {energy[j]:.4g} | {accs[j]} |")
        for (name, _), (f, e) in zip(networks[1:], results[1:]):
            print(f"mixed / {name}: FPS {results[0][0] / f:.2f}x, energy {e / results[0][1]:.2f}x less")
    return 0


def long_architectures() -> list[Any]:
    """Four architectures of the long-budget table: the shallowest of each width (the first by index on ties)."""
    from yoso.app.bench import read_rows_table

    table = read_rows_table(ROOT / "bench" / "fashion_mnist_long")
    records = sorted(table.records().values(), key=lambda r: (r.genotype.width, r.genotype.depth, r.arch))
    picked = {}
    for r in records:
        picked.setdefault(r.genotype.width, r)
    return [picked[w] for w in sorted(picked)][:4]


def long_part(args: argparse.Namespace) -> int:
    from yoso.app.run import validate_config
    from yoso.bench.table import append_jsonl, architecture_id

    run = validate_config(compose([PRECISION, "experiment=final", "accuracy_model=hypernet", "logger=none"]))
    train = run.standalone_trainer(ROOT / "logs" / "bench_precision_long")
    done = {(r["arch"], r["bits"]) for r in _long_rows()}
    for record in long_architectures():
        genotype = replace(record.genotype, precision=(8, *(args.bits,) * 3))
        if (record.arch, args.bits) in done:
            continue
        start = time.perf_counter()
        val, test, val_n, test_n = train(genotype)
        row = {
            "arch": record.arch,
            "bits": args.bits,
            "quantised_arch": architecture_id(genotype),
            "genotype": genotype.to_dict(),
            "val_accuracy": val,
            "test_accuracy": test,
            "val_n": val_n,
            "test_n": test_n,
            "train_s": round(time.perf_counter() - start, 1),
        }
        append_jsonl(LONG_ROWS, row)
        print(f"{record.arch} at {args.bits} bits: test {_interval(test, test_n)} in {row['train_s']} s", flush=True)
    return 0


def _long_rows() -> list[dict[str, Any]]:
    if not LONG_ROWS.is_file():
        return []
    return [json.loads(line) for line in LONG_ROWS.read_text().splitlines() if line.strip()]


def long_table_part(args: argparse.Namespace) -> int:
    rows = {(r["arch"], r["bits"]): r for r in _long_rows()}
    print("| architecture | width, depth | unquantised (long table) | 8-bit | 4-bit | 4-bit - 8-bit | matched |")
    print("|---|---|---|---|---|---|---|")
    for record in long_architectures():
        eight, four = rows.get((record.arch, 8)), rows.get((record.arch, 4))
        if eight is None or four is None:
            continue
        g = record.genotype
        base = _interval(record.test_accuracy, record.test_n)
        a8, a4 = (eight["test_accuracy"], eight["test_n"]), (four["test_accuracy"], four["test_n"])
        diff = 100 * (a4[0] - a8[0])
        print(
            f"| {record.arch} | {g.width:g}, {g.depth:.2g} | {base} | {_interval(*a8)} | {_interval(*a4)} | "
            f"{diff:+.2f} pp | {'no difference' if _overlap(a4, a8) else 'different'} |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["search", "long", "long-table"], default="search")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--refine", type=int, default=100, help="mixed: candidates whose every stage-bit assignment is scored"
    )
    parser.add_argument("--boards", nargs="*", default=["zcu102", "ultra96"])
    parser.add_argument("--bits", type=int, choices=[4, 6, 8, 16], default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_num_threads(args.threads)
    return {"search": search_part, "long": long_part, "long-table": long_table_part}[args.part](args)


if __name__ == "__main__":
    raise SystemExit(main())
