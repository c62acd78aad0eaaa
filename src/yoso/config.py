"""Start-up validation of configuration values: one error type and the checks that raise it.

Every config value a run depends on is checked before any work starts; a bad one stops
the program with a :class:`ConfigError` that names the key, the bad value and what is
allowed. The domain dataclasses (search space, accelerator space, reward) call these
checks in their constructors, so the API and the command line reject the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


class InputError(ValueError):
    """Bad user input (a config value, a data file) that stops a run before any work, exit status 2."""


class ConfigError(InputError):
    """A config value outside what is allowed; the message names key, value and allowed range."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid config value {key}={value!r}: allowed {allowed}")


def check_choice(key: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else a ConfigError listing them."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(key, value, f"one of {allowed}")
    return value


def check_keys(prefix: str, mapping: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """A ConfigError naming ``prefix.<key>`` for the first (sorted) key of ``mapping`` not in ``allowed``."""
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", mapping[unknown[0]], f"one of the keys {list(allowed)}")


def check_bool(key: str, value: Any) -> bool:
    """``value`` if it is a bool (YAML true/false), else a ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def check_int(key: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within [low, high] (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int) and not _is_integral_float(value):
        raise ConfigError(key, value, _range_text("an integer", low, high))
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, value, _range_text("an integer", low, high))
    return value


def check_float(
    key: str,
    value: Any,
    *,
    greater_than: float | None = None,
    less_than: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
) -> float:
    """``value`` as a finite float strictly above/below the given bounds (or within ``at_least``/``at_most``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (greater_than is None or value > greater_than)
    ok = ok and (less_than is None or value < less_than)
    ok = ok and (at_least is None or value >= at_least)
    ok = ok and (at_most is None or value <= at_most)
    if not ok:
        parts = []
        if greater_than is not None:
            parts.append(f"> {greater_than}")
        if at_least is not None:
            parts.append(f">= {at_least}")
        if less_than is not None:
            parts.append(f"< {less_than}")
        if at_most is not None:
            parts.append(f"<= {at_most}")
        raise ConfigError(key, value, "a finite number" + (" " + " and ".join(parts) if parts else ""))
    return float(value)


def check_nonempty_unique(key: str, values: Any) -> list[Any]:
    """``values`` as a list that is non-empty and has no repeated entry."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(key, values, "a non-empty list")
    values = list(values)
    if not values:
        raise ConfigError(key, values, "a non-empty list")
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(key, values, f"a list without repeated entries (repeated: {repeated})")
    return values


def required(cfg: Any, prefix: str, name: str) -> Any:
    """``cfg[name]``, or a ConfigError naming ``prefix.name`` when the key is missing."""
    try:
        return cfg[name]
    except Exception:  # KeyError, omegaconf's missing-value errors, non-mapping cfg
        raise ConfigError(f"{prefix}.{name}", None, "a value (the key is missing)") from None


def check_shape(key: str, value: Any) -> tuple[int, int, int]:
    """``value`` as a ``(channels, height, width)`` tuple of positive integers."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ConfigError(key, value, "[channels, height, width]")
    return tuple(check_int(f"{key}[{i}]", dim, 1) for i, dim in enumerate(value))  # type: ignore[return-value]


def _is_integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _range_text(what: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{what} in [{low}, {high}]"
    if low is not None:
        return f"{what} >= {low}"
    if high is not None:
        return f"{what} <= {high}"
    return what


def plain_groups(cfg: Any, *keys: str) -> dict[str, Any]:
    """Top-level entries ``keys`` (those present) of a (Dict)Config as plain resolved containers.

    Only these entries are resolved: others (e.g. ``paths.output_dir``) may need a running Hydra app.
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    return {
        k: OmegaConf.to_container(cfg[k], resolve=True)
        if isinstance(cfg.get(k), DictConfig | ListConfig)
        else cfg.get(k)
        for k in keys
        if k in cfg
    }


def config_schema(target: Any, runtime: Sequence[str] = ()) -> type:
    """A structured-config dataclass of ``target``'s keyword parameters plus ``_target_`` (its import path).

    Keys and defaults come from ``target``'s signature, so each default is defined once, in the code, and a
    group's YAML holds only what it sets; a parameter the run passes at build time (``runtime``, e.g. ``space``)
    is left out. Values are typed ``Any`` for Hydra: the constructor's own checks judge them when the group is
    built (:func:`build`), so a bad value of any kind gets one line naming key, value and what is allowed, and
    exit status 2, rather than a composition error.
    """
    import dataclasses
    import inspect

    from omegaconf import MISSING

    path = public_path(target)
    fields: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=path))]
    for name, param in inspect.signature(target).parameters.items():
        if name in runtime or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = MISSING if param.default is param.empty else param.default
        if isinstance(default, (list, tuple, dict)):
            value = dict(default) if isinstance(default, dict) else list(default)
            fields.append((name, Any, dataclasses.field(default_factory=_returning(value))))
        else:
            fields.append((name, Any, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{target.__name__}Config", fields)


def _returning(value: Any) -> Callable[[], Any]:
    """A dataclass default factory that returns ``value``."""
    return lambda: value


def public_path(target: Any) -> str:
    """The shortest import path of ``target``: its package's when the package exports it (``yoso.data.X``)."""
    import importlib

    module, name = target.__module__, target.__qualname__
    parts = module.split(".")
    for end in range(1, len(parts)):
        package = importlib.import_module(".".join(parts[:end]))
        if getattr(package, name, None) is target:
            return f"{'.'.join(parts[:end])}.{name}"
    return f"{module}.{name}"


def build(node: Any, prefix: str, **runtime: Any) -> Any:
    """The object a ``_target_`` config node describes (``runtime``: arguments the run adds), built by Hydra.

    A bad value raises the constructor's :class:`InputError` itself (not Hydra's wrapper); a missing value or
    a node without ``_target_`` a :class:`ConfigError` naming ``prefix``.
    """
    import hydra
    from hydra.errors import InstantiationException
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(node, DictConfig):
        try:
            node = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue as err:
            raise ConfigError(f"{prefix}.{err.full_key}", None, "a value (the key is missing)") from None
    if not isinstance(node, Mapping) or not node.get("_target_"):
        raise ConfigError(
            f"{prefix}._target_",
            None if not isinstance(node, Mapping) else node.get("_target_"),
            "the import path of the class the group builds",
        )
    try:
        return hydra.utils.instantiate(dict(node), **runtime, _convert_="all")
    except InstantiationException as err:
        if isinstance(err.__cause__, InputError):
            raise err.__cause__ from None
        raise ConfigError(prefix, node["_target_"], f"a class that accepts its config ({err})") from None
