"""Throughput of the joint search space: vectorised sampling, decode and encode (candidates per second)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from yoso.app.cli import compose
from yoso.app.run import validate_hardware

ROOT = Path(__file__).resolve().parents[1]


def rate(fn, n: int) -> float:
    """Items per second of ``fn()`` processing ``n`` items (best of three)."""
    best = min(_timed(fn) for _ in range(3))
    return n / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    space = validate_hardware(compose(sys.argv[1:])).space
    print(space)
    n = 100_000
    print(f"sample:  {rate(lambda: space.sample(n, rng=0), n):12,.0f} candidates/s (batch of {n:,})")
    vectors = space.sample(5_000, rng=0)
    pairs = space.decode_many(vectors)
    print(f"decode:  {rate(lambda: space.decode_many(vectors), len(vectors)):12,.0f} candidates/s")
    print(f"encode:  {rate(lambda: [space.encode(g, a) for g, a in pairs], len(pairs)):12,.0f} candidates/s")


if __name__ == "__main__":
    main()
