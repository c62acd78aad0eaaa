"""Speed of yoso's accelerator simulator: one whole network cold (one core), batch throughput, Table-2 sanity.

Run: ``python benchmarks/bench_simulator.py [--quick]``. Prints the time to simulate one whole
default deployment network (20 cells, mapping search included) on one accelerator with a
cold cache, the batch throughput over random candidates of the default space (serial and
over all cores with joblib), the agreement with the external simulators (SCALE-Sim cycles,
nn-dataflow/ZigZag energy, Eyeriss ISCA'16 Fig. 10; stored in src/yoso/reference/external_reference.json)
with the speed ratio against nn-dataflow on the same whole network, and the Table-2 sanity
table (``python -m yoso.app.table2``).
"""

from __future__ import annotations

import os

# one core for the single-network timing: no BLAS threads (set before numpy is imported)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from yoso.app.cli import compose  # noqa: E402
from yoso.app.run import validate_hardware  # noqa: E402
from yoso.app.table2 import main as table2_main  # noqa: E402
from yoso.hw import Deploy, clear_cache, evaluate, simulate  # noqa: E402
from yoso.hw.external import (  # noqa: E402
    cycle_agreement,
    energy_agreement,
    eyeriss_dataflow_energy,
    eyeriss_equal_area,
    eyeriss_table,
    hardware,
    load_reference,
    unit_costs,
    whole_network_reference,  # noqa: E402
)
from yoso.space import Accelerator, known_genotype  # noqa: E402


def cold_network_ms(genotype, acc: Accelerator, repeats: int = 5) -> tuple[float, float]:
    """Median and max wall time (ms) of simulate() on a cleared cache (layers, mappings, tilings all rebuilt)."""
    times = []
    for _ in range(repeats):
        clear_cache()
        start = time.perf_counter()
        simulate(genotype, acc)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), max(times)


def external_comparison() -> None:
    """Error figures vs SCALE-Sim / nn-dataflow / ZigZag, the Eyeriss Fig. 10 table, speed vs nn-dataflow."""
    ref = load_reference()
    print("-- compute cycles vs SCALE-Sim 3.0.0 (yoso's systolic mapping; bars: median <= 15%, Spearman >= 0.9)")
    for df in ("WS", "OS", None):
        print("   " + cycle_agreement(ref, df).line())
    print(
        "-- total energy vs the energy references (unit costs MAC 1, RF 1, array 2, GLB 6, DRAM 200; "
        "DRAM to DRAM; bar: Spearman >= 0.9)"
    )
    print("   " + energy_agreement(ref, "nn_dataflow").line())
    for df in ("WS", "OS", "RS"):
        print("   " + energy_agreement(ref, "zigzag", df).line())
    print(
        "-- Eyeriss ISCA'16 Fig. 10 (AlexNet, batch 16, 16x16 PEs, 128 KB, 512 B, RS), 1e9 MAC units, "
        "yoso / reference (error); bar: ALU, DRAM, RF within 20%; buf/array: nn-dataflow's computed values"
    )
    for name, row in eyeriss_table(ref).items():
        print(
            f"   {name}: "
            + "  ".join(f"{k} {y:5.2f}/{r:5.2f} ({100 * (y / r - 1):+4.0f}%)" for k, (y, r) in row.items())
        )
    eyeriss_equal_area_table(ref)
    nnd = whole_network_reference(ref)
    hw = hardware(nnd["accelerator"])
    g = known_genotype("DARTS_V2")
    med, worst = cold_network_ms(g, hw)
    ms = med / 1e3
    print(
        f"-- speed, whole DARTS_V2 network ({nnd['layers']} layers) on {hw}: yoso cold cache {med:.1f} ms "
        f"(median of 5, one core, wall)"
    )
    for key in ("nn_dataflow_exhaustive", "nn_dataflow_solve_loopblocking"):
        r = whole_network_reference(ref, key)
        print(
            f"   nn-dataflow {r['search'].split(',')[0]:28s}: {r['seconds']:7.1f} s wall, {r['cpu_seconds']:6.1f} s CPU "
            f"-> yoso is {r['cpu_seconds'] / ms:8.0f}x faster (CPU s) / {r['seconds'] / ms:8.0f}x (wall s)"
        )


def eyeriss_equal_area_table(ref) -> None:
    """Eyeriss ISCA'16 §VII: RS against WS, OS and NLR at equal storage area (AlexNet CONV, 256 PEs, batch 16)."""
    designs = eyeriss_equal_area()
    print(
        "-- Eyeriss ISCA'16 equal-area dataflow comparison (AlexNet CONV1-5, batch 16, 256 PEs; "
        f"designs {', '.join(map(str, designs.values()))}); energy in 1e9 MAC units, x RS; the paper: RS 1.4-2.5x "
        "more energy-efficient"
    )
    for label, costs in (("one cost per level (the paper's)", unit_costs(ref)), ("yoso's, scaled by size", None)):
        energy = {df: sum(levels.values()) for df, levels in eyeriss_dataflow_energy(designs, costs).items()}
        cells = "  ".join(f"{df} {e:6.2f} ({e / energy['RS']:.2f}x)" for df, e in energy.items())
        print(f"   {label:34s} {cells}")


def main() -> None:
    quick = "--quick" in sys.argv
    cfg = compose([])
    space = validate_hardware(cfg).space
    deploy = Deploy.from_config(cfg["hw"]["deploy"])
    print(f"deployment macro: {deploy}")
    simulate(known_genotype("DARTS_V2"), Accelerator(8, 8, 108, 64, "WS"))  # import / first-call warm-up
    print("\n== one whole network, cold cache, one core (ms: median / max of 5)")
    random_g = space.decode(space.sample(1, rng=0)[0])[0]
    for name, g in (
        ("DARTS_V2", known_genotype("DARTS_V2")),
        ("PNAS", known_genotype("PNAS")),
        ("random yoso", random_g),
    ):
        for df in ("WS", "OS", "RS", "NLR"):
            acc = Accelerator(16, 32, 512, 512, df)
            med, worst = cold_network_ms(g, acc)
            res = simulate(g, acc)
            print(
                f"{name:12s} {str(acc):20s} {med:6.1f} / {worst:6.1f} ms   ({len(res.layers)} layers, "
                f"{len({l.layer.shape() for l in res.layers})} distinct)  E={res.energy_mj:.2f} mJ  L={res.latency_ms:.2f} ms"
            )

    print("\n== batch throughput over random candidates of the default space")
    n = 500 if quick else 2000
    vectors = space.sample(n, rng=1)
    clear_cache()
    start = time.perf_counter()
    evaluate(vectors, space=space)
    dt = time.perf_counter() - start
    print(f"serial, cold cache:   {n:6d} candidates in {dt:6.2f} s = {n / dt:8.0f} candidates/s")
    start = time.perf_counter()
    evaluate(vectors, space=space)
    dt = time.perf_counter() - start
    print(f"serial, warm cache:   {n:6d} candidates in {dt:6.2f} s = {n / dt:8.0f} candidates/s")
    if not quick and (os.cpu_count() or 1) > 1:
        n = 20000
        vectors = space.sample(n, rng=2)
        start = time.perf_counter()
        evaluate(vectors, space=space, n_jobs=-1, chunk=1000)
        dt = time.perf_counter() - start
        print(
            f"joblib, {os.cpu_count()} cores, cold: {n:6d} candidates in {dt:6.2f} s = {n / dt:8.0f} candidates/s "
            "(includes worker start-up)"
        )

    print("\n== external comparison (tests/test_hw_external.py asserts the bars)")
    external_comparison()

    if not quick:
        print("\n== Table-2 sanity (python -m yoso.app.table2)")
        table2_main([])


if __name__ == "__main__":
    main()
