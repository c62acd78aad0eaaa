"""GP predictor vs. simulator: held-out accuracy and time per sample (paper §II.F: <5% error, ~2000x faster).

    .venv/bin/python benchmarks/bench_predictor.py [--repeats 3] [hydra overrides ...]

Uses the config's cached sample set and GP (trained on first use, see ``hw.predictor``).
Per-sample times include feature encoding for the GP (with a cold per-genotype cache) and
start from a cold simulator cache (``yoso.hw.clear_cache()``); each is the best of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from yoso import hw
from yoso.app.cli import compose
from yoso.app.run import validate_hardware
from yoso.predictor.cost import GPCostModel


def _best(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--singles", type=int, default=100, help="candidates timed one at a time (batch of 1)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    setup = validate_hardware(compose(args.overrides)).hw
    start = time.perf_counter()
    _, test = setup.samples()
    model = GPCostModel(setup)
    model(test.vectors[:1])  # the GP loaded from the cache, or trained on the setup's samples
    print(f"samples + GP ready in {time.perf_counter() - start:.1f} s (cached after the first run)")
    x = test.vectors
    pred = model.predict(x, return_std=True)
    mape_e = float(np.mean(np.abs(pred.energy_mj - test.energy_mj) / test.energy_mj) * 100)
    mape_l = float(np.mean(np.abs(pred.latency_ms - test.latency_ms) / test.latency_ms) * 100)
    print(
        f"GP on {len(x)} held-out samples: MAPE energy {mape_e:.2f} %, latency {mape_l:.2f} % "
        f"(mean predictive std of log: {pred.energy_log_std.mean():.3f}, {pred.latency_log_std.mean():.3f})"
    )

    def cold_features() -> None:
        model.encoder._cache.clear()
        model.encoder._layer_memo.clear()

    singles = x[: args.singles]
    sim_kw = dict(space=setup.space, tech=setup.tech, deploy=setup.deploy)
    rows = {
        "GP, batch of 1": _best(lambda: [model(v[None]) for v in singles], args.repeats, cold_features) / len(singles),
        f"GP, batch of {len(x)}": _best(lambda: model(x), args.repeats, cold_features) / len(x),
        f"GP + std, batch of {len(x)}": _best(lambda: model.predict(x, return_std=True), args.repeats, cold_features)
        / len(x),
        "  of which features, batch of 1": _best(
            lambda: [model.encoder(v[None]) for v in singles], args.repeats, cold_features
        )
        / len(singles),
        f"  of which features, batch of {len(x)}": _best(lambda: model.encoder(x), args.repeats, cold_features)
        / len(x),
        "simulator, batch of 1": _best(
            lambda: [hw.evaluate(v[None], **sim_kw) for v in singles], args.repeats, hw.clear_cache
        )
        / len(singles),
        f"simulator, batch of {len(x)}": _best(lambda: hw.evaluate(x, **sim_kw), args.repeats, hw.clear_cache) / len(x),
    }
    print(f"\ntime per sample (best of {args.repeats}; GP features and simulator caches cold):")
    for name, sec in rows.items():
        print(f"  {name:36s} {sec * 1e3:9.3f} ms")
    r1 = rows["simulator, batch of 1"] / rows["GP, batch of 1"]
    rb = rows[f"simulator, batch of {len(x)}"] / rows[f"GP, batch of {len(x)}"]
    print(
        f"\nspeed-up of the GP over this simulator: {r1:.1f}x (batch of 1), {rb:.1f}x (batch of {len(x)})"
        "  [paper: ~2000x over its simulator]"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
