"""HyperNet rank fidelity: does the HyperNet rank architectures as stand-alone training does? (docs/architecture.md §3)

    .venv/bin/python benchmarks/bench_supernet.py [--archs 24] [--arch-seed 0] [--seeds 0 1] [--out DIR]
                                                  [--bootstrap 2000] [--json] [hydra overrides of conf/search.yaml ...]

e.g. ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_supernet.py data=fashion_mnist``.

It composes the search config (``conf/search.yaml`` with the overrides, so ``data=...``,
``model.epochs=...``, ``model.standalone.epochs=...``, ``data.train_size=...`` apply as they do to
``search.py``), reuses or trains the HyperNet the search would use (``paths.cache_dir/hypernets``),
draws ``--archs`` candidates from the configured space with ``--arch-seed`` (``space.sample``) and,
for each, measures

- its HyperNet accuracy: inherited weights, BN recalibrated, on the validation split;
- its stand-alone validation accuracy, once per ``--seeds`` seed, with the training the search's
  final step uses (``Run.standalone_trainer``: ``model.standalone`` and the ``trainer`` group); the
  data split stays that of the config's ``seed``, only the training seed changes.

Stand-alone results are appended to ``--out/standalone.jsonl`` (one line per network, keyed by
genotype, seed and the stand-alone config hash), so a killed run resumes without retraining.
It writes ``results.json``, ``results.md`` and ``rank.png`` to ``--out`` and prints the summary:
Kendall tau and Spearman rho between HyperNet accuracy and the mean stand-alone accuracy with
bootstrap 95 % intervals, and the spread of accuracy across architectures beside its noise (the
seed-to-seed std of one run, the std of a mean over the seeds, and the binomial std of an accuracy
on the validation images), with a plain-English verdict. ``--json`` prints results.json to stdout
(everything else then goes to stderr).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))

#: Overrides applied before the user's (which win): no W&B run, no progress bar per network.
BENCH_OVERRIDES = ("logger=none", "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false")
#: Two-sided 95 % difference threshold in units of one mean's noise: two means closer than this are not separable.
PAIR_Z = 1.959963984540054 * math.sqrt(2.0)


# --------------------------------------------------------------------------------------- statistics


def summarise(
    hypernet: Sequence[float],
    standalone: Any,
    n_val: int,
    n_val_standalone: int | None = None,
    samples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Rank correlations and accuracy spread vs noise, all accuracies as fractions in [0, 1].

    ``hypernet``: one HyperNet accuracy per architecture; ``standalone``: an ``(archs, seeds)`` array of
    stand-alone accuracies; ``n_val`` / ``n_val_standalone``: validation images behind each (default: same).

    - ``kendall_tau``/``spearman`` (+ ``_ci95_low``/``_ci95_high``): HyperNet vs per-arch mean stand-alone
      accuracy (``yoso.stats.rank_correlations``, percentile bootstrap over architectures).
    - ``standalone_spread_sd``: std (ddof 1) of the per-arch means across architectures; ``standalone_min``/
      ``_max``/``_range`` of those means.
    - ``seed_sd``: pooled within-arch std of one run around its arch's mean (ddof 1 per arch);
      ``seed_sd_of_mean = seed_sd / sqrt(seeds)``.
    - ``binomial_sd``: sqrt(p(1-p)/n) at the grand mean p; ``binomial_sd_of_mean = binomial_sd / sqrt(seeds)``
      (as if the seeds erred independently on the images: a lower bound, the images are shared).
    - ``noise_of_mean``: the larger of the two ``_of_mean`` figures; ``spread_to_noise`` = spread / it;
      ``pairs_within_noise``: architecture pairs whose means differ by less than 1.96·sqrt(2)·noise_of_mean.
    - ``hypernet_*``: the same spread figures for the HyperNet accuracy, against its binomial std at ``n_val``
      (the HyperNet measurement is deterministic: no seed noise).
    """
    from yoso.stats import binomial_sd, rank_correlations

    hyper = np.asarray(hypernet, dtype=float)
    runs = np.asarray(standalone, dtype=float)
    if runs.ndim == 1:
        runs = runs[:, None]
    if runs.shape[0] != hyper.shape[0]:
        raise ValueError(f"{hyper.shape[0]} HyperNet accuracies but {runs.shape[0]} rows of stand-alone accuracies")
    n_archs, n_seeds = runs.shape
    n_sa = int(n_val_standalone if n_val_standalone is not None else n_val)
    means = runs.mean(axis=1)
    grand = float(means.mean())

    def spread(x: np.ndarray) -> float:
        return float(x.std(ddof=1)) if len(x) > 1 else float("nan")

    if n_seeds > 1:
        seed_sd = float(np.sqrt(((runs - means[:, None]) ** 2).sum() / (n_archs * (n_seeds - 1))))
    else:
        seed_sd = float("nan")
    root = math.sqrt(n_seeds)
    binom = float(binomial_sd(grand, n_sa))
    seed_of_mean = seed_sd / root
    binom_of_mean = binom / root
    noise = float(np.nanmax([seed_of_mean, binom_of_mean]))
    sa_spread = spread(means)
    diffs = np.abs(means[:, None] - means[None, :])[np.triu_indices(n_archs, k=1)]
    hyper_mean = float(hyper.mean())
    hyper_binom = float(binomial_sd(hyper_mean, n_val))
    hyper_spread = spread(hyper)
    out: dict[str, Any] = {
        "n_archs": n_archs,
        "n_seeds": n_seeds,
        "n_val": int(n_val),
        "n_val_standalone": n_sa,
        **{k: float(v) for k, v in rank_correlations(hyper, means, samples=samples, seed=seed).items()},
        "standalone_mean": grand,
        "standalone_spread_sd": sa_spread,
        "standalone_min": float(means.min()),
        "standalone_max": float(means.max()),
        "standalone_range": float(means.max() - means.min()),
        "seed_sd": seed_sd,
        "seed_sd_of_mean": seed_of_mean,
        "binomial_sd": binom,
        "binomial_sd_of_mean": binom_of_mean,
        "noise_of_mean": noise,
        "noise_source": "seed-to-seed" if seed_of_mean >= binom_of_mean else "binomial",
        "spread_to_noise": sa_spread / noise if noise > 0 else float("nan"),
        "pairs": int(len(diffs)),
        "pairs_within_noise": int((diffs < PAIR_Z * noise).sum()),
        "hypernet_mean": hyper_mean,
        "hypernet_spread_sd": hyper_spread,
        "hypernet_min": float(hyper.min()),
        "hypernet_max": float(hyper.max()),
        "hypernet_range": float(hyper.max() - hyper.min()),
        "hypernet_binomial_sd": hyper_binom,
        "hypernet_spread_to_noise": hyper_spread / hyper_binom if hyper_binom > 0 else float("nan"),
    }
    low, high = out["kendall_tau_ci95_low"], out["kendall_tau_ci95_high"]
    out["tau_excludes_zero"] = bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
    return out


def within_width_lines(w: Mapping[str, Any]) -> list[str]:
    """The within-one-width rank figures (cells and depth only) as summary lines."""
    per = ", ".join(f"width {g}: {w['kendall_tau_by_group'][g]:.3f} ({n} archs)" for g, n in w["groups"].items())
    return [
        f"Within one width (cells and depth only; {w['pairs']} pairs): Kendall tau {w['kendall_tau']:.3f} "
        f"[{w['kendall_tau_ci95_low']:.3f}, {w['kendall_tau_ci95_high']:.3f}], Spearman {w['spearman']:.3f} "
        f"[{w['spearman_ci95_low']:.3f}, {w['spearman_ci95_high']:.3f}] (bootstrap within widths)",
        f"  per width: {per}",
    ]


def _pp(x: float) -> str:
    return f"{100 * x:.2f} pp"


def _times(x: float) -> str:
    return f"{x:.1f}×" if np.isfinite(x) else "n/a×"


def verdict(s: Mapping[str, Any]) -> str:
    """What the figures of :func:`summarise` show, in plain English (a few sentences)."""
    k = s["n_seeds"]
    ratio = s["spread_to_noise"]
    lines = [
        f"Stand-alone: the spread across architectures ({_pp(s['standalone_spread_sd'])} std, range "
        f"{_pp(s['standalone_range'])}) is {_times(ratio)} the noise of a {k}-seed mean "
        f"({_pp(s['noise_of_mean'])}, {s['noise_source']}; seed-to-seed {_pp(s['seed_sd_of_mean'])}, binomial "
        f"{_pp(s['binomial_sd_of_mean'])} on {s['n_val_standalone']} images); {s['pairs_within_noise']} of "
        f"{s['pairs']} architecture pairs differ by less than 1.96·√2 × that noise, i.e. within noise."
    ]
    if not np.isfinite(ratio) or ratio < 2:
        lines.append(
            "Most stand-alone accuracy differences are within noise, so a rank correlation near 0 is "
            "expected whatever the HyperNet's quality; more validation images, seeds or a harder task "
            "are needed to rank these architectures."
        )
    lines.append(
        f"HyperNet: the spread across architectures ({_pp(s['hypernet_spread_sd'])} std, range "
        f"{_pp(s['hypernet_range'])}) is {_times(s['hypernet_spread_to_noise'])} its binomial noise "
        f"({_pp(s['hypernet_binomial_sd'])} on {s['n_val']} images)."
    )
    tau, low, high = s["kendall_tau"], s["kendall_tau_ci95_low"], s["kendall_tau_ci95_high"]
    interval = (
        f"Kendall τ = {tau:.3f} [{low:.3f}, {high:.3f}] (Spearman ρ = {s['spearman']:.3f} "
        f"[{s['spearman_ci95_low']:.3f}, {s['spearman_ci95_high']:.3f}]) over {s['n_archs']} architectures"
    )
    if s["tau_excludes_zero"]:
        side = "better" if low > 0 else "worse"
        lines.append(
            f"{interval}: the interval excludes 0, so the HyperNet ranks these architectures {side} than chance."
        )
    else:
        lines.append(
            f"{interval}: the interval includes 0, so there is no evidence that the HyperNet ranks these "
            "architectures better than chance."
        )
    if s["n_archs"] < 10:
        lines.append(f"(With only {s['n_archs']} architectures the bootstrap intervals mean little.)")
    return " ".join(lines)


def summary_lines(s: Mapping[str, Any]) -> list[str]:
    """The printed summary (also the head of results.md)."""
    k = s["n_seeds"]
    return [
        f"validation images: {s['n_val']} (HyperNet), {s['n_val_standalone']} (stand-alone); "
        f"{s['n_archs']} architectures x {k} seeds",
        f"Kendall tau  = {s['kendall_tau']:.3f}  95 % CI "
        f"[{s['kendall_tau_ci95_low']:.3f}, {s['kendall_tau_ci95_high']:.3f}]",
        f"Spearman rho = {s['spearman']:.3f}  95 % CI [{s['spearman_ci95_low']:.3f}, {s['spearman_ci95_high']:.3f}]",
        f"stand-alone accuracy (mean of {k} seeds): mean {100 * s['standalone_mean']:.2f} %, spread across archs "
        f"{_pp(s['standalone_spread_sd'])} std, range "
        f"{100 * s['standalone_min']:.2f}-{100 * s['standalone_max']:.2f} %",
        f"  seed-to-seed noise: one run {_pp(s['seed_sd'])} std, {k}-seed mean {_pp(s['seed_sd_of_mean'])}",
        f"  binomial noise (n={s['n_val_standalone']}): one run {_pp(s['binomial_sd'])}, {k}-seed mean "
        f"{_pp(s['binomial_sd_of_mean'])} (lower bound: the seeds share the images)",
        f"  spread / noise of a {k}-seed mean: {_times(s['spread_to_noise'])}; pairs within noise: "
        f"{s['pairs_within_noise']}/{s['pairs']}",
        f"HyperNet accuracy: mean {100 * s['hypernet_mean']:.2f} %, spread {_pp(s['hypernet_spread_sd'])} std, range "
        f"{100 * s['hypernet_min']:.2f}-{100 * s['hypernet_max']:.2f} %; "
        f"binomial noise {_pp(s['hypernet_binomial_sd'])} "
        f"(spread / noise {_times(s['hypernet_spread_to_noise'])})",
        *(within_width_lines(s["within_width"]) if "within_width" in s else []),
        f"verdict: {verdict(s)}",
    ]


# --------------------------------------------------------------------------------------- outputs

ARCH_COLUMNS = (("index", "arch"), ("id", "genotype id"), ("hypernet", "HyperNet acc"))


def arch_table(rows: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> str:
    """The per-architecture markdown table (accuracies in %)."""
    from yoso.tables import format_table

    columns = [*ARCH_COLUMNS, *((f"seed{s}", f"stand-alone seed {s}") for s in seeds), ("mean", "stand-alone mean")]
    pct = [
        {
            **r,
            **{k: round(100 * r[k], 2) for k in ("hypernet", "mean")},
            **{f"seed{s}": round(100 * r["standalone"][str(s)], 2) for s in seeds},
        }
        for r in rows
    ]
    return format_table(pct, columns, markdown=True)


def plot_rank(path: Path, rows: Sequence[Mapping[str, Any]], s: Mapping[str, Any]) -> Path:
    """HyperNet vs mean stand-alone accuracy, error bars spanning the seeds' min to max, archs labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from yoso.search.report import save_figure

    x = np.array([100 * r["hypernet"] for r in rows])
    y = np.array([100 * r["mean"] for r in rows])
    runs = np.array([[100 * v for v in r["standalone"].values()] for r in rows])
    fig = Figure(figsize=(6.5, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.errorbar(
        x,
        y,
        yerr=[y - runs.min(axis=1), runs.max(axis=1) - y],
        fmt="o",
        ms=4,
        capsize=3,
        color="tab:blue",
        label=f"mean of {s['n_seeds']} seeds (bars: seed range)",
    )
    for r, xi, yi in zip(rows, x, y):
        ax.annotate(str(r["index"]), (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7, color="gray")
    ax.set_xlabel(f"HyperNet accuracy (%), n={s['n_val']}")
    ax.set_ylabel(f"stand-alone accuracy (%), n={s['n_val_standalone']}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    title = (
        f"Kendall τ {s['kendall_tau']:.2f} [{s['kendall_tau_ci95_low']:.2f}, {s['kendall_tau_ci95_high']:.2f}], "
        f"Spearman ρ {s['spearman']:.2f}, {s['n_archs']} archs"
    )
    return save_figure(fig, path, title)


def write_outputs(out: Path, results: Mapping[str, Any]) -> None:
    """results.json, results.md and rank.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    s, rows, seeds = results["summary"], results["archs"], results["config"]["seeds"]
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    cfg = results["config"]
    md = [
        "# HyperNet rank fidelity (benchmarks/bench_supernet.py)",
        "",
        f"data `{cfg['data']}`, HyperNet {cfg['hypernet_epochs']} epochs, stand-alone {cfg['standalone_epochs']} "
        f"epochs, architectures drawn with seed {cfg['arch_seed']}, training seeds {seeds}; overrides "
        f"`{' '.join(cfg['overrides']) or '(none)'}`",
        "",
        "```",
        *summary_lines(s),
        "```",
        "",
        "Accuracies in %:",
        "",
        arch_table(rows, seeds),
    ]
    (out / "results.md").write_text("\n".join(md))
    plot_rank(out / "rank.png", rows, s)


# --------------------------------------------------------------------------------------- measurement


def seed_config(cfg: Any, seed: int) -> Any:
    """``cfg`` training with ``seed`` while keeping the data split of the config's own seed."""
    from omegaconf import open_dict

    out = copy.deepcopy(cfg)
    with open_dict(out):
        if "seed" in out.data:
            out.data.seed = int(cfg.data.seed)
        out.seed = int(seed)
    return out


def standalone_val_images(cfg: Any, n_val: int) -> int:
    """Validation images a stand-alone run is scored on (``trainer.limit_val_batches`` may cut the split)."""
    limit = cfg.trainer.get("limit_val_batches")
    if limit is None:
        return n_val
    batch = int(cfg.data.batch_size)
    batches = math.ceil(n_val / batch)
    k = min(int(limit), batches) if isinstance(limit, int) else int(batches * float(limit))
    return min(n_val, k * batch)


def read_cache(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Cached stand-alone runs by ``(config key, genotype id)`` (a torn last line of a killed run is skipped)."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                done[(rec["key"], rec["genotype_id"])] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=24, help="architectures drawn from the space (default 24)")
    parser.add_argument("--arch-seed", type=int, default=0, help="seed of the architecture draw (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="stand-alone training seeds (default 0 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "supernet")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the rank correlations")
    parser.add_argument("--json", action="store_true", help="print results.json to stdout (the rest to stderr)")
    parser.add_argument(
        "--standalone-only",
        action="store_true",
        help="only train (and cache) the stand-alone networks, e.g. one process per seed, then stop",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/search.yaml, e.g. data=fashion_mnist")
    args = parser.parse_args(argv)
    if args.archs < 2:
        parser.error("--archs must be at least 2 (rank correlations)")
    if len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds must be distinct")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    say_to = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=say_to, flush=True)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for name in ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "lightning_fabric"):
        for sub in ("", ".utilities.rank_zero"):
            logging.getLogger(name + sub).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*Trying to infer the `batch_size`.*")
    warnings.filterwarnings("ignore", ".*input array is constant.*")  # tied bootstrap resamples: dropped as NaN

    from omegaconf import open_dict

    from yoso.app.cli import compose
    from yoso.app.run import validate_config
    from yoso.app.two_stage import standalone_key
    from yoso.cache import digest

    cfg = compose([*BENCH_OVERRIDES, *args.overrides])
    out = args.out.resolve()
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    setup = validate_config(cfg)
    from yoso.app import cli

    if hasattr(cli, "set_num_threads"):  # the config's num_threads (conf/runtime), as search.py applies it
        cli.set_num_threads(cfg.get("num_threads"))
    if hasattr(cli, "quiet_libraries"):
        cli.quiet_libraries()
    start = time.perf_counter()

    # ---------------------------------------------------------------- HyperNet accuracy
    datamodule = setup.datamodule()
    decoded = setup.space.decode_many(setup.space.sample(args.archs, args.arch_seed))
    genotypes = [g for g, _ in decoded]
    ids = [digest(g.to_dict()) for g in genotypes]
    if args.standalone_only:
        datamodule.setup("validate")
        n_val = sum(len(y) for _, y in datamodule.val_tensors())
        hyper, hyper_seconds = np.full(len(genotypes), np.nan), 0.0
    else:
        supernet = setup.hypernet().to(setup.device())  # built once under the cache's lock
        evaluator = supernet.evaluator(datamodule)
        n_val = int(evaluator.total)
        t0 = time.perf_counter()
        hyper = evaluator.accuracy(genotypes)
        hyper_seconds = time.perf_counter() - t0
        say(
            f"HyperNet {setup.hypernet_key}: {len(genotypes)} architectures evaluated in {hyper_seconds:.1f} s "
            f"({n_val} validation images, BN recalibrated); mean accuracy {hyper.mean():.4f}"
        )

    # ---------------------------------------------------------------- stand-alone accuracy
    cache_path = out / "standalone.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    done = read_cache(cache_path)
    configs = {s: seed_config(cfg, s) for s in args.seeds}
    runs = {s: validate_config(configs[s]) for s in args.seeds}
    keys = {s: standalone_key(runs[s]) for s in args.seeds}
    trainers: dict[int, Any] = {}
    total = len(genotypes) * len(args.seeds)
    results: dict[tuple[int, int], dict[str, Any]] = {}
    count = trained = 0
    for i, genotype in enumerate(genotypes):
        for s in args.seeds:
            count += 1
            rec = done.get((keys[s], ids[i]))
            if rec is None:
                if s not in trainers:
                    trainers[s] = runs[s].standalone_trainer(out / "standalone")
                t0 = time.perf_counter()
                result = trainers[s](genotype)  # (val, test[, val images, test images])
                val_n = int(result[2]) if len(result) > 2 else standalone_val_images(cfg, n_val)
                rec = {
                    "key": keys[s],
                    "genotype_id": ids[i],
                    "seed": s,
                    "val_acc": float(result[0]),
                    "test_acc": float(result[1]),
                    "val_images": val_n,
                    "seconds": round(time.perf_counter() - t0, 2),
                    "genotype": genotype.to_dict(),
                }
                with cache_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                trained += 1
                how = f"trained in {rec['seconds']:.1f} s"
            else:
                how = "cached"
            results[(i, s)] = rec
            say(
                f"[{count}/{total}] arch {i:2d} ({ids[i][:8]}) seed {s}: stand-alone val {rec['val_acc']:.4f} "
                f"(HyperNet {hyper[i]:.4f}), {how}; elapsed {time.perf_counter() - start:.0f} s"
            )

    if args.standalone_only:
        say(f"stand-alone networks cached in {cache_path} ({trained} trained now); rerun without --standalone-only")
        return {}
    runs = np.array([[results[(i, s)]["val_acc"] for s in args.seeds] for i in range(len(genotypes))])
    n_sa = min(int(rec.get("val_images", standalone_val_images(cfg, n_val))) for rec in results.values())
    summary = summarise(hyper, runs, n_val, n_sa, samples=args.bootstrap, seed=args.arch_seed)
    if len({g.width for g in genotypes}) > 1:  # elastic space: how much ranking is left within one width
        from yoso.stats import within_group_correlations

        summary["within_width"] = within_group_correlations(
            hyper, runs.mean(axis=1), [g.width for g in genotypes], samples=args.bootstrap, seed=args.arch_seed
        )
    rows = [
        {
            "index": i,
            "id": ids[i][:8],
            "genotype": str(g),
            "hypernet": float(hyper[i]),
            "standalone": {str(s): results[(i, s)]["val_acc"] for s in args.seeds},
            "standalone_test": {str(s): results[(i, s)]["test_acc"] for s in args.seeds},
            "mean": float(runs[i].mean()),
        }
        for i, g in enumerate(genotypes)
    ]
    record = {
        "config": {
            "overrides": list(args.overrides),
            "data": str(cfg.data.name),
            "hypernet_epochs": int(cfg.model.epochs),
            "standalone_epochs": int(cfg.model.standalone.epochs),
            "arch_seed": args.arch_seed,
            "seeds": list(args.seeds),
            "hypernet_key": setup.hypernet_key,
            "standalone_keys": {str(s): k for s, k in keys.items()},
            "bootstrap": args.bootstrap,
        },
        "summary": summary,
        "verdict": verdict(summary),
        "timing": {
            "hypernet_eval_seconds": round(hyper_seconds, 2),
            "standalone_trained": trained,
            "standalone_cached": total - trained,
            "total_seconds": round(time.perf_counter() - start, 1),
        },
        "archs": rows,
    }
    write_outputs(out, record)
    say("")
    say(arch_table(rows, args.seeds))
    for line in summary_lines(summary):
        say(line)
    say(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'rank.png'}")
    if args.json:
        print(json.dumps(record, indent=1, default=float))
    return record


if __name__ == "__main__":
    main()
