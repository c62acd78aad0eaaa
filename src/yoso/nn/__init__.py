"""Neural-network building blocks: the op registry, cells, HyperNet and stand-alone networks.

Exports resolve lazily: :mod:`yoso.space` imports :mod:`yoso.nn.ops`, and the networks import
:mod:`yoso.space`, so eager imports here would be circular.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SubnetEvaluator": "yoso.nn.evaluate",
    "ChildNet": "yoso.nn.hypernet",
    "HyperNet": "yoso.nn.hypernet",
    "edge_key": "yoso.nn.hypernet",
    "ChildModule": "yoso.nn.modules",
    "SupernetModule": "yoso.nn.modules",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'yoso.nn' has no attribute {name!r}")
