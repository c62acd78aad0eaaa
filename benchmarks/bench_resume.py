"""Resume after SIGKILL, end to end: each sampling strategy's search killed twice equals its uninterrupted run (issue 27).

    .venv/bin/python benchmarks/bench_resume.py [--strategies ...] [--iterations 24] [--out DIR]

For each strategy, ``search.py experiment=smoke strategy=<s> search.iterations=24`` (qnehvi with
``strategy.batch_size=4``, so that its steps of 8 do not end the search at the first kill) runs
once uninterrupted and once killed with SIGKILL twice (after a third and after two thirds of its iterations are in
``history.csv``), each time started again with the same command (every run with ``OMP_NUM_THREADS=1``:
BLAS results depend on the thread count). It prints, per strategy, where
the kills landed, whether the resumed ``history.csv`` equals the uninterrupted one (every column
but the wall time) and whether torch's safe loader (``weights_only=True``) opens the checkpoint.
The HyperNet and the GP are cached once in ``<out>/cache`` (built by the first run).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("reinforce", "random", "evolution", "tpe", "nsga2", "cmaes", "qnehvi")
#: Overrides beyond the iterations: smaller steps where the default step is a third of the run or more.
OVERRIDES = {"qnehvi": ("strategy.batch_size=4",)}
#: The environment of every run, uninterrupted or killed: the same thread counts (BLAS results depend on them).
ENV = {**os.environ, "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}


def history_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a history.csv without the wall time (the only column that differs between two runs)."""
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(handle)]


def search_command(run_dir: Path, cache_dir: Path, *overrides: str) -> list[str]:
    """``search.py experiment=smoke`` into ``run_dir`` with the shared cache (no stand-alone training: quick)."""
    return [
        sys.executable,
        str(ROOT / "search.py"),
        "experiment=smoke",
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={cache_dir}",
        "search.standalone=false",
        *overrides,
    ]


def run_killed(command: Sequence[str], run_dir: Path, kill_after: Sequence[int], timeout: float = 300) -> list[int]:
    """Run ``command``, SIGKILL it once ``history.csv`` holds more than each of ``kill_after`` rows (starting it
    again after each kill), then let it finish; returns the rows the history held at each kill."""
    history, killed_at = run_dir / "history.csv", []
    for rows in kill_after:
        proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if history.exists() and history.read_text().count("\n") > rows + 1:  # the header, then rows
                break
            time.sleep(0.01)
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(command)} ended (status {proc.returncode}) before it could be killed")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(len(history_rows(history)))
    subprocess.run(command, env=ENV, check=True, capture_output=True, timeout=timeout)
    return killed_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--iterations", type=int, default=24, help="search.iterations")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the run directories here (default: a temporary one)"
    )
    args = parser.parse_args()
    import torch

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_resume-"))
    cache = out / "cache"
    print(f"{'strategy':<10} {'kills at rows':>14} {'identical history':>18} {'weights_only load':>18}")
    failures = 0
    for strategy in args.strategies:
        overrides = (f"strategy={strategy}", f"search.iterations={args.iterations}", *OVERRIDES.get(strategy, ()))
        reference, killed = out / f"{strategy}-uninterrupted", out / f"{strategy}-killed"
        subprocess.run(
            search_command(reference, cache, *overrides), env=ENV, check=True, capture_output=True, timeout=600
        )
        third = max(1, args.iterations // 3)
        killed_at = run_killed(search_command(killed, cache, *overrides), killed, (third, 2 * third))
        same = history_rows(killed / "history.csv") == history_rows(reference / "history.csv")
        try:
            torch.load(killed / "search.ckpt", weights_only=True)
            safe = "yes"
        except Exception as err:  # what the safe loader refuses, in one line
            safe = f"no ({type(err).__name__})"
        failures += (not same) + (safe != "yes")
        print(
            f"{strategy:<10} {', '.join(map(str, killed_at)):>14} {'yes' if same else 'NO':>18} {safe:>18}", flush=True
        )
    print(f"run directories: {out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
