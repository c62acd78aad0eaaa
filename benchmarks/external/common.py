"""Shared command-line plumbing of the external runners (plain python, runs in ``.venv-ext``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

Record = dict[str, Any]


def parse_args(doc: str) -> argparse.Namespace:
    """Common options: --ids (subset, JSON to stdout), --jobs, --out."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--ids", default="", help="comma-separated config ids; prints their records as JSON")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--out", type=Path, default=None, help="output JSON (default results/<tool>.json)")
    return p.parse_args()


def run_all(
    tool: str,
    configs: list[Record],
    fn: Callable[[Record], Record],
    args: argparse.Namespace,
    extra: dict[str, Any] | None = None,
) -> list[Record]:
    """Run ``fn`` over ``configs`` (or the --ids subset) in parallel; write or print the records."""
    if args.ids:
        want = args.ids.split(",")
        known = {c["id"] for c in configs}
        missing = [i for i in want if i not in known]
        if missing:
            sys.exit(f"unknown config ids for {tool}: {missing}")
        configs = [c for c in configs if c["id"] in want]
    recs: list[Record] = []
    skipped: list[Record] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for rec in pool.map(fn, configs):
            if "skipped" in rec:
                skipped.append(rec)
                print(f"[{tool}] {rec['id']}: SKIPPED {rec['skipped']}", file=sys.stderr, flush=True)
                continue
            recs.append(rec)
            print(
                f"[{tool}] {rec['id']}: cycles={rec.get('cycles')} energy={rec.get('energy', {}).get('total')} "
                f"({rec['seconds']:.2f} s)",
                file=sys.stderr,
                flush=True,
            )
    payload = {"tool": tool, **(extra or {}), "records": recs, "skipped": skipped}
    if args.ids:
        json.dump(payload, sys.stdout, indent=1)
    else:
        out = args.out or RESULTS / f"{tool}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=1))
        print(f"wrote {len(recs)} records to {out}", file=sys.stderr)
    return recs
