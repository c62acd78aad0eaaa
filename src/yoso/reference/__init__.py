"""Published reference data shipped with the package: the YOSO paper's figures and the external simulators' results.

``yoso_paper_results.yaml``: the paper's thresholds, reward presets, Table 2 and claims, read by
Table 2 and the reports; ``external_reference.json``: SCALE-Sim, nn-dataflow and ZigZag results
that :mod:`yoso.hw.external` compares the simulator with (benchmarks/external/ regenerates it).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml

#: The YOSO paper's published figures.
PAPER = files(__name__) / "yoso_paper_results.yaml"
#: The external simulators' reference results.
EXTERNAL = files(__name__) / "external_reference.json"


@cache
def paper_results() -> dict[str, Any]:
    """The paper's figures as a mapping (thresholds, reward_presets, table2, claims, ...)."""
    return yaml.safe_load(PAPER.read_text())
