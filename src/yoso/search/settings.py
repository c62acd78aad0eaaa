"""The ``search`` node of ``search.yaml``: how long a search runs, what its final step re-measures, and its race."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from yoso.config import ConfigError, check_bool, check_float, check_int, check_keys


@dataclass(frozen=True)
class RaceSettings:
    """Cheaper accuracy: a candidate is measured on the validation split's first ``looks`` images, then all of them,
    and stops at the first look where its reward at the accuracy's upper 95 % bound cannot enter the history's
    top ``top`` (None: ``search.top_n``). ``looks=()``: no race."""

    looks: tuple[int, ...] = (500, 2000)
    top: int | None = None


@dataclass(frozen=True)
class SearchSettings:
    """The search loop and its final step, validated at start-up (one ConfigError naming the key on a bad value).

    ``race`` may be given as a mapping (the config node): it becomes a :class:`RaceSettings`, with ``top``
    filled from ``top_n`` when not set.
    """

    iterations: int = 100  # candidates evaluated (a CPU default of minutes; the paper: 10000-12000)
    top_n: int = 2  # the final step: candidates re-evaluated with the reference cost (and trained stand-alone)
    front_k: int = 0  # the final step also verifies up to this many designs of the searched Pareto front (front.csv)
    standalone: bool = True  # the final step trains the top-N stand-alone (model.standalone); false: HyperNet accuracy
    progress: bool = True  # rich progress bar with the running best reward
    histogram_every: int = 50  # W&B: decision histograms over the last this-many samples
    checkpoint_every_s: float = 10.0  # search.ckpt at most this often (and after the last step); 0: every step
    # NAAS's outer/inner split: each sampled network gets the accelerator of the space that maximises its reward
    # (feasible first), by exhaustive sweep under the reference cost; the strategy's own accelerator decisions are
    # replaced by it
    inner_accelerator: bool = False
    race: RaceSettings = field(default_factory=RaceSettings)

    @classmethod
    def from_config(cls, node: Mapping[str, Any]) -> SearchSettings:
        """The settings of a ``search`` config node (missing keys take the defaults); ConfigError on a bad key."""
        check_keys("search", node, [f.name for f in fields(cls)])
        return cls(**node)

    def __post_init__(self) -> None:
        check_int("search.iterations", self.iterations, 1)
        top_n = check_int("search.top_n", self.top_n, 1)
        check_int("search.front_k", self.front_k, 0)
        check_bool("search.standalone", self.standalone)
        check_bool("search.progress", self.progress)
        check_int("search.histogram_every", self.histogram_every, 1)
        check_float("search.checkpoint_every_s", self.checkpoint_every_s, at_least=0.0)
        check_bool("search.inner_accelerator", self.inner_accelerator)
        object.__setattr__(self, "race", _race(self.race, top_n))


def _race(race: Any, top_n: int) -> RaceSettings:
    """``race`` (a RaceSettings, a mapping or None) checked against ``top_n``, with ``top`` filled in."""
    if isinstance(race, RaceSettings):
        race = {"looks": race.looks, "top": race.top}
    race = dict(race or {})
    check_keys("search.race", race, ("looks", "top"))
    looks = race.get("looks") or []
    if not isinstance(looks, Sequence) or isinstance(looks, str):
        raise ConfigError("search.race.looks", looks, "a list of image counts, e.g. [500, 2000] ([]: no race)")
    looks = tuple(check_int(f"search.race.looks[{i}]", images, 1) for i, images in enumerate(looks))
    top = race.get("top")
    top = top_n if top is None else top
    if looks:
        top = check_int("search.race.top", top, top_n)  # the final step's top-N are whole-split measured
    return RaceSettings(looks=looks, top=top)
