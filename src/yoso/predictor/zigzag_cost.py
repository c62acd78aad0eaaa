"""ZigZag as the reference cost (``reference_cost=zigzag``): yoso's candidates costed by zigzag-dse, layer by layer.

The translation of layers, accelerators and unit costs is :mod:`yoso.hw.zigzag`; this class gives it the
reference-cost protocol (:class:`yoso.predictor.cost.ReferenceCostModel`), so ZigZag labels the GP's and MLP's
samples and gives the final figures. zigzag-dse is an optional extra: without it the run stops at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from yoso.config import ConfigError, check_int
from yoso.hw import zigzag
from yoso.predictor.dataset import config_fingerprint

#: The ``reference_cost`` option that builds this class (conf/reference_cost/zigzag.yaml).
OPTION = "zigzag"


class ZigZagCostModel:
    """ZigZag (LOMA's temporal-mapping search per layer, the dataflow's spatial unrolling fixed): seconds per layer
    shape and accelerator, cached in the process; the second reference cost beside yoso's simulator."""

    name = OPTION

    def __init__(self, setup: Any, lpf_limit: int = zigzag.LPF_LIMIT):
        if not zigzag.available():
            raise ConfigError(
                "reference_cost",
                OPTION,
                f"'{OPTION}' only with zigzag-dse=={zigzag.ZIGZAG_VERSION} installed (it is not importable here): "
                f"{zigzag.INSTALL_HINT}; or reference_cost=simulator",
            )
        if setup.space.precision is not None:  # its translation gives every operand the technology's one word width
            raise ConfigError(
                "reference_cost",
                OPTION,
                "reference_cost=simulator in a precision space (space.precisions): the ZigZag translation models "
                "one word width for every layer",
            )
        self.setup = setup
        self.lpf_limit = check_int("reference_cost.lpf_limit", lpf_limit, 1)

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        pairs = self.setup.space.decode_many(np.atleast_2d(np.asarray(vectors)))
        return self.evaluate_designs(pairs)

    def evaluate_designs(self, designs: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` of ``(Genotype, Accelerator)`` pairs under ZigZag."""
        s = self.setup
        return zigzag.network_cost(list(designs), s.tech, s.deploy, self.lpf_limit)

    def fingerprint(self) -> dict[str, Any]:
        """The space, deployment macro and technology (as the simulator's), ZigZag's version, the translation's
        version and the mapping search's limit."""
        s = self.setup
        base = config_fingerprint(s.space, s.deploy, s.tech)
        return base | {
            "reference": OPTION,
            "zigzag": zigzag.installed_version(),
            "translation": zigzag.TRANSLATION_VERSION,
            "lpf_limit": self.lpf_limit,
        }
