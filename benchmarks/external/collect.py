"""Merge results/*.json into src/yoso/reference/external_reference.json and print sanity cross-checks.

The Eyeriss ISCA'16 Fig. 10 reference is read (with ``ast``) from nn-dataflow's own test file
``nn_dataflow/tests/dataflow_test/test_nn_dataflow.py`` (``major_cost_bkdn_ref`` in
``test_eyeriss_isca16``) of the installed package, so no number here is typed in by hand.

Usage (in .venv-ext, after the run_*.py scripts): python benchmarks/external/collect.py
"""

from __future__ import annotations

import ast
import json
import platform
import statistics
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from common import HERE, RESULTS
from configs import UNIT_COSTS, WORD_BYTES

ROOT = HERE.parents[1]
OUT = ROOT / "src" / "yoso" / "reference" / "external_reference.json"  # package data, read by yoso.hw.external
TEST_REL = "nn_dataflow/tests/dataflow_test/test_nn_dataflow.py"
NND_V21_COMMIT = "dfb2a3385717a0d69f8164b03bba4abf3ac31ebe"  # tag v2.1 of github.com/stanford-mast/nn_dataflow


def _load(name: str) -> dict[str, Any] | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def eyeriss_reference() -> dict[str, Any]:
    """``major_cost_bkdn_ref`` ([ALU, DRAM, RF] per layer, 1e9 MAC units) from the installed test file."""
    import nn_dataflow

    path = Path(nn_dataflow.__file__).parent.parent / TEST_REL
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "test_eyeriss_isca16":
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Assign)
                    and isinstance(sub.targets[0], ast.Name)
                    and sub.targets[0].id == "major_cost_bkdn_ref"
                ):
                    ref = ast.literal_eval(sub.value)
                    return {
                        k: {"alu": v[0], "dram": v[1], "buf": None, "array": None, "rf": v[2]} for k, v in ref.items()
                    }
    raise RuntimeError(f"major_cost_bkdn_ref not found in {path}")


def rank(xs: list[float]) -> list[float]:
    """Average ranks (ties share the mean rank)."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation."""
    ra, rb = rank(a), rank(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def checks(ref: dict[str, Any]) -> dict[str, Any]:
    """Sanity cross-checks: SCALE-Sim vs its analytical fold model; Eyeriss rerun vs reference; tools."""
    out: dict[str, Any] = {}
    for df in ("WS", "OS"):
        recs = [r for r in ref["cycles"] if r["dataflow"] == df]
        if recs:
            err = [abs(r["cycles"] - r["analytic_cycles"]) / r["cycles"] for r in recs]
            out[f"scalesim_{df}_vs_analytic"] = {
                "n": len(recs),
                "median_rel_err": statistics.median(err),
                "max_rel_err": max(err),
                "spearman": spearman([r["cycles"] for r in recs], [r["analytic_cycles"] for r in recs]),
            }
    eye = ref.get("eyeriss_isca16", {})
    if eye.get("nn_dataflow_computed"):
        diffs = {
            k: {f: round(eye["nn_dataflow_computed"][k][f] - v[f], 4) for f in ("alu", "dram", "rf")}
            for k, v in eye["layers"].items()
        }
        out["eyeriss_isca16_computed_minus_reference"] = diffs
        out["eyeriss_isca16_within_test_tolerance_0.1"] = all(abs(x) < 0.1 for d in diffs.values() for x in d.values())
    nnd = {
        (r["layer"], r["pe_rows"], r["pe_cols"], r["gbuf_kb"], r["rbuf_bytes"]): r["energy"]["total"]
        for r in ref["energy"]
        if r["tool"] == "nn_dataflow"
    }
    pairs = [
        (nnd[k], r["energy"]["total"])
        for r in ref["energy"]
        if r["tool"] == "zigzag"
        for k in [(r["layer"], r["pe_rows"], r["pe_cols"], r["gbuf_kb"], r["rbuf_bytes"])]
        if k in nnd
    ]
    if len(pairs) > 2:
        out["nn_dataflow_vs_zigzag_same_layer_and_hw"] = {
            "n": len(pairs),
            "spearman_total_energy": spearman(*map(list, zip(*pairs))),
            "note": "ZigZag dataflow differs per config (WS/OS/RS unrolling); nn-dataflow is RS",
        }
    return out


def main() -> None:
    ss, nnd, zz = _load("scalesim"), _load("nn_dataflow"), _load("zigzag")
    eye, whole = _load("nn_dataflow_eyeriss_isca16"), _load("nn_dataflow_whole_network")
    whole_solve = _load("nn_dataflow_whole_network_solve")
    if not (ss and nnd):
        sys.exit("collect.py: run run_scalesim.py and run_nn_dataflow.py first (results/ missing)")
    tools = {
        "scalesim": ss["version"],
        "nn_dataflow": nnd["version"],
        "sympy": nnd["sympy"],
        "numpy": version("numpy"),
        "python": platform.python_version(),
    }
    if zz:
        tools["zigzag"] = zz["version"]
    ref: dict[str, Any] = {
        "generated_by": "cd benchmarks/external && ../../.venv-ext/bin/python run_scalesim.py && "
        "../../.venv-ext/bin/python run_nn_dataflow.py && "
        "../../.venv-ext/bin/python run_nn_dataflow.py --eyeriss && "
        "../../.venv-ext/bin/python run_nn_dataflow.py --whole-network [--solve] && "
        "../../.venv-ext/bin/python run_zigzag.py && ../../.venv-ext/bin/python collect.py",
        "tools": tools,
        "unit_costs": {
            **UNIT_COSTS,
            "word_bytes": WORD_BYTES,
            "note": "energy per 16-bit access normalised to one MAC (Eyeriss ISCA'16); "
            "records' energy values are in these units",
        },
        "cycles": ss["records"],
        "energy": nnd["records"] + (zz["records"] if zz else []),
        "skipped": ss.get("skipped", []) + nnd.get("skipped", []) + (zz.get("skipped", []) if zz else []),
    }
    if eye:
        ref["eyeriss_isca16"] = {
            "source": {
                "file": TEST_REL,
                "test": "DataflowTest.test_eyeriss_isca16 (major_cost_bkdn_ref)",
                "package": f"nn-dataflow {nnd['version']} (PyPI)",
                "repo": "https://github.com/stanford-mast/nn_dataflow",
                "commit": NND_V21_COMMIT,
            },
            "setup": {
                "network": "AlexNet (nn_dataflow.nns.alex_net)",
                "batch": 16,
                "pe_rows": 16,
                "pe_cols": 16,
                "gbuf_kb": 128,
                "rbuf_bytes": 512,
                "unit_costs": "MAC 1, DRAM 200, GBUF 6, array 2, RF 1",
                "units": "1e9 x MAC energy",
                "dataflow": "RS",
            },
            "note": "the test's reference holds ALU, DRAM and RF only (buf/array are null); it checks |diff| < 0.1",
            "layers": eyeriss_reference(),
            "nn_dataflow_computed": eye["layers"],
            "nn_dataflow_seconds": eye["seconds"],
        }
    ref["whole_network"] = {
        k: v for k, v in {"nn_dataflow_exhaustive": whole, "nn_dataflow_solve_loopblocking": whole_solve}.items() if v
    }
    ref["sanity"] = checks(ref)
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    print(json.dumps(ref["sanity"], indent=1))
    print(f"wrote {OUT}: {len(ref['cycles'])} cycle records, {len(ref['energy'])} energy records")


if __name__ == "__main__":
    main()
