"""Published cell genotypes used by the two-stage baseline (paper Table 2), transcribed exactly.

Each entry cites the repository, path and commit it was copied from. They use the
DARTS op vocabulary and keep their own node counts (4 or 5) and concat lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from yoso.config import ConfigError
from yoso.space.genotype import Genotype, GenotypeError


@dataclass(frozen=True)
class Source:
    """Where a genotype was transcribed from."""

    repository: str
    path: str
    commit: str
    name: str  # the variable name in that file
    note: str = ""

    def __str__(self) -> str:
        return f"github.com/{self.repository} {self.path}@{self.commit[:12]} ({self.name})"


_DARTS = ("quark0/darts", "cnn/genotypes.py", "f276dd346a09ae3160f8e3aca5c7b193fda1da37")
_NSGA_NET = ("ianwhale/nsga-net", "models/micro_genotypes.py", "0ee6225c4ad3afabe5f5e8fd6dcb6dfffb1faf2d")
_PNAS = ("chenxi116/PNASNet.pytorch", "genotypes.py", "c3c830d2942864b807ce88ac3c9786d7114ccf19")

NASNET_A = Genotype(
    normal=(
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_5x5", 0),
        ("sep_conv_3x3", 0),
        ("avg_pool_3x3", 1),
        ("skip_connect", 0),
        ("avg_pool_3x3", 0),
        ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 1),
    ),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(
        ("sep_conv_5x5", 1),
        ("sep_conv_7x7", 0),
        ("max_pool_3x3", 1),
        ("sep_conv_7x7", 0),
        ("avg_pool_3x3", 1),
        ("sep_conv_5x5", 0),
        ("skip_connect", 3),
        ("avg_pool_3x3", 2),
        ("sep_conv_3x3", 2),
        ("max_pool_3x3", 1),
    ),
    reduce_concat=(4, 5, 6),
)

AMOEBANET_A = Genotype(
    normal=(
        ("avg_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0),
        ("avg_pool_3x3", 3),
        ("sep_conv_3x3", 1),
        ("skip_connect", 1),
        ("skip_connect", 0),
        ("avg_pool_3x3", 1),
    ),
    normal_concat=(4, 5, 6),
    reduce=(
        ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1),
        ("max_pool_3x3", 0),
        ("sep_conv_7x7", 2),
        ("sep_conv_7x7", 0),
        ("avg_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("conv_7x1_1x7", 0),
        ("sep_conv_3x3", 5),
    ),
    reduce_concat=(3, 4, 6),
)

DARTS_V1 = Genotype(
    normal=(
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("avg_pool_3x3", 0),
    ),
    reduce_concat=(2, 3, 4, 5),
)

DARTS_V2 = Genotype(
    normal=(
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ),
    reduce_concat=(2, 3, 4, 5),
)

ENAS = Genotype(
    normal=(
        ("sep_conv_3x3", 1),
        ("skip_connect", 1),
        ("sep_conv_5x5", 1),
        ("skip_connect", 0),
        ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("avg_pool_3x3", 0),
        ("sep_conv_5x5", 1),
        ("avg_pool_3x3", 0),
    ),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(
        ("sep_conv_5x5", 0),
        ("avg_pool_3x3", 1),
        ("sep_conv_3x3", 1),
        ("avg_pool_3x3", 1),
        ("avg_pool_3x3", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 4),
        ("avg_pool_3x3", 1),
        ("sep_conv_3x3", 5),
        ("sep_conv_5x5", 0),
    ),
    reduce_concat=(2, 3, 6),
)

PNAS = Genotype(
    normal=(
        ("sep_conv_5x5", 0),
        ("max_pool_3x3", 0),
        ("sep_conv_7x7", 1),
        ("max_pool_3x3", 1),
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 4),
        ("max_pool_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 1),
    ),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(
        ("sep_conv_5x5", 0),
        ("max_pool_3x3", 0),
        ("sep_conv_7x7", 1),
        ("max_pool_3x3", 1),
        ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 4),
        ("max_pool_3x3", 1),
        ("sep_conv_3x3", 0),
        ("skip_connect", 1),
    ),
    reduce_concat=(2, 3, 4, 5, 6),
)

#: The known genotypes by the names used on the command line (``genotype=DARTS_V2``).
KNOWN_GENOTYPES: dict[str, Genotype] = {
    "NASNet-A": NASNET_A,
    "AmoebaNet-A": AMOEBANET_A,
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "ENAS": ENAS,
    "PNAS": PNAS,
}

SOURCES: dict[str, Source] = {
    "NASNet-A": Source(*_DARTS, name="NASNet"),
    "AmoebaNet-A": Source(*_DARTS, name="AmoebaNet"),
    "DARTS_V1": Source(*_DARTS, name="DARTS_V1"),
    "DARTS_V2": Source(*_DARTS, name="DARTS_V2"),
    "ENAS": Source(
        *_NSGA_NET,
        name="ENAS",
        note="the ENAS CNN micro cell in DARTS format as NSGA-Net gives it (concat lists included); "
        "quark0/darts' ENAS entry is the RNN cell",
    ),
    "PNAS": Source(*_PNAS, name="PNASNet", note="PNASNet-5: the same cell for normal and reduction"),
}


def _normalise(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_ALIASES = {_normalise(k): k for k in KNOWN_GENOTYPES} | {"nasnet": "NASNet-A", "amoebanet": "AmoebaNet-A"}


def known_genotype(name: str) -> Genotype:
    """A known genotype by name, case- and separator-insensitive (``darts_v2``, ``NASNet-A``, ``nasnet``)."""
    try:
        return KNOWN_GENOTYPES[_ALIASES[_normalise(name)]]
    except KeyError:
        raise KeyError(f"unknown genotype {name!r}; known: {list(KNOWN_GENOTYPES)}") from None


def load_genotype(spec: str) -> Genotype:
    """A genotype from a known name or a YAML/JSON file (a genotype, or a search run's ``best.yaml``: its
    ``genotype``); a ConfigError (key ``genotype``) otherwise."""
    path = Path(spec)
    if path.is_file():
        text = path.read_text()
        try:
            data = yaml.safe_load(text)  # JSON is YAML
            if isinstance(data, dict) and isinstance(data.get("genotype"), dict):  # a search run's best.yaml
                return Genotype.from_dict(data["genotype"])
            return Genotype.from_json(text) if path.suffix == ".json" else Genotype.from_yaml(text)
        except yaml.YAMLError as err:  # not YAML at all: where the parser stopped, in one line
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ConfigError(
                "genotype",
                spec,
                f"a YAML/JSON genotype file (it does not parse{where}: {getattr(err, 'problem', None) or err})",
            ) from None
        except (GenotypeError, ValueError, TypeError, AttributeError) as err:
            raise ConfigError("genotype", spec, f"a valid genotype file ({err})") from None
    if path.suffix in (".yaml", ".yml", ".json"):
        raise ConfigError("genotype", spec, "an existing genotype YAML/JSON file (no such file)")
    try:
        return known_genotype(spec)
    except KeyError:
        raise ConfigError("genotype", spec, f"a known genotype {list(KNOWN_GENOTYPES)} or a YAML/JSON file") from None
