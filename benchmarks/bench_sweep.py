"""Speed of costing one network on many accelerators: the vectorised sweep against the per-pair loop (issue 30).

``python benchmarks/bench_sweep.py [--network DARTS_V2] [--loop-sample 5000] [--skip-naas]``

For the paper's accelerator space (``accelerator=paper``, 960 designs) and NAAS's (``accelerator=naas``, 181,440),
one network (``hw.deploy``, the default technology and mapping objective) is costed on every accelerator:

* by the loop, the per-pair path of :func:`yoso.hw.simulator.evaluate` (what it runs for a network paired with
  fewer than ``SWEEP_MIN`` accelerators, and ran for every pair before the sweep), cold (caches cleared) and warm
  (its per-layer cache filled by the cold pass); on NAAS's space the loop runs on ``--loop-sample`` accelerators
  drawn at random (the whole space would take it many minutes cold), and its per-accelerator rate is reported;
* by the sweep, :class:`yoso.hw.sweep.AcceleratorSweep`, cold (its layer tables built, the simulator's caches
  cleared) and warm (the tables built: a network whose layer shapes it has seen), median of 5 warm calls.

It checks that both give the same figures, and prints accelerator evaluations per second and the warm and cold
ratios per accelerator measured in this one run. Run it alone on the machine: a second process on 2 cores slows
either side.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from yoso.app.cli import compose  # noqa: E402
from yoso.hw import Deploy, clear_cache, load_tech  # noqa: E402
from yoso.hw.simulator import _evaluate_pairs  # noqa: E402
from yoso.hw.sweep import AcceleratorSweep  # noqa: E402
from yoso.space import known_genotype  # noqa: E402
from yoso.space.accelerator import AcceleratorSpace  # noqa: E402


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_space(name: str, network: str, loop_sample: int, seed: int = 0) -> None:
    from omegaconf import OmegaConf

    cfg = compose([f"accelerator={name}"])
    accs = AcceleratorSpace.from_config(OmegaConf.to_container(cfg.accelerator, resolve=True)).all()
    deploy, tech = Deploy.from_config(cfg.hw.deploy), load_tech()
    g = known_genotype(network)
    sample = accs
    if len(accs) > loop_sample:
        pick = np.sort(np.random.default_rng(seed).choice(len(accs), loop_sample, replace=False))
        sample = [accs[i] for i in pick]
    print(
        f"\n== accelerator={name}: {len(accs):,} accelerators, {network} (hw.deploy), objective {tech.mapping_objective}"
    )

    clear_cache()
    pairs = [(g, a) for a in sample]
    loop, loop_cold = _timed(_evaluate_pairs, pairs, tech, deploy)
    loop_e, loop_l = loop[:, 0], loop[:, 1]
    _, loop_warm = _timed(_evaluate_pairs, pairs, tech, deploy)
    part = "" if sample is accs else f" (a random {len(sample):,} of them)"
    print(f"loop  (evaluate, per pair){part}:")
    print(f"  cold {loop_cold:8.3f} s = {len(sample) / loop_cold:11,.0f} accelerators/s")
    print(f"  warm {loop_warm:8.3f} s = {len(sample) / loop_warm:11,.0f} accelerators/s")

    clear_cache()
    sweep, build = _timed(AcceleratorSweep, accs, tech, deploy)
    (energy, latency), cold = _timed(sweep, g)
    warm_times = [_timed(sweep, g)[1] for _ in range(5)]
    warm = statistics.median(warm_times)
    print(f"sweep (AcceleratorSweep, all {len(accs):,}): set-up {build:.3f} s")
    print(f"  cold {cold:8.3f} s = {len(accs) / cold:11,.0f} accelerators/s (layer tables built)")
    print(f"  warm {warm * 1e3:8.2f} ms = {len(accs) / warm:11,.0f} accelerators/s (median of 5)")

    index = {a: i for i, a in enumerate(accs)}
    rows = [index[a] for a in sample]
    error = max(np.max(np.abs(energy[rows] / loop_e - 1)), np.max(np.abs(latency[rows] / loop_l - 1)))
    per_acc_loop, per_acc_sweep = loop_warm / len(sample), warm / len(accs)
    cold_ratio = (loop_cold / len(sample)) / (cold / len(accs))
    print(
        f"same figures as the loop: max relative difference {error:.1e} over {len(rows):,} accelerators; "
        f"warm speed-up {per_acc_loop / per_acc_sweep:,.0f}x per accelerator (loop {per_acc_loop * 1e6:.1f} us, "
        f"sweep {per_acc_sweep * 1e6:.3f} us), cold {cold_ratio:,.0f}x"
    )
    best = int(np.argmin(energy * latency))
    print(f"least-EDP design: {accs[best]} {energy[best]:.3f} mJ, {latency[best]:.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="DARTS_V2", help="a known genotype")
    parser.add_argument("--loop-sample", type=int, default=5000, help="accelerators the loop costs on a big space")
    parser.add_argument("--skip-naas", action="store_true", help="the paper's space only")
    args = parser.parse_args(argv)
    for name in ("paper",) if args.skip_naas else ("paper", "naas"):
        bench_space(name, args.network, args.loop_sample)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
