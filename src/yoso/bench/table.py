"""The accuracy table: rows of (architecture, seed) -> stand-alone accuracies, its file format and its query.

A table file is gzip-compressed JSON: the table's name, its config hash and config, each architecture's
genotype once, and one row per (architecture, seed). Rows of another config hash never mix into a table.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from yoso.space.genotype import Genotype
from yoso.stats import wilson_interval

#: The table :func:`lookup` reads by default: the default space on Fashion-MNIST at the default stand-alone budget.
DEFAULT_TABLE = "fashion_mnist_short"
#: Version of the file layout.
TABLE_VERSION = 1
#: The package folder of the shipped tables.
TABLES = "tables"


def architecture_id(genotype: Genotype | Mapping[str, Any]) -> str:
    """A short stable id of an architecture: the hash of its genotype's plain form (cells, width, depth)."""
    plain = genotype.to_dict() if isinstance(genotype, Genotype) else dict(genotype)
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TableRow:
    """One architecture trained stand-alone with one seed: accuracies on ``val_n`` and ``test_n`` images."""

    arch: str
    index: int  # the architecture's position in the table's seeded draw (-1: a search's result, not drawn)
    seed: int
    val_accuracy: float
    test_accuracy: float
    val_n: int
    test_n: int
    train_s: float


@dataclass(frozen=True)
class BenchRecord:
    """An architecture's accuracies over the seeds it was trained with: pooled over the seeds' evaluations (the
    correct images over all images), each with its split size and Wilson 95 % interval, and per seed."""

    arch: str
    genotype: Genotype
    seeds: tuple[int, ...]
    val_accuracy: float
    val_n: int
    val_ci95: tuple[float, float]
    test_accuracy: float
    test_n: int
    test_ci95: tuple[float, float]
    val_per_seed: tuple[float, ...]
    test_per_seed: tuple[float, ...]


def _pooled(accuracies: Sequence[float], totals: Sequence[int]) -> tuple[float, int, tuple[float, float]]:
    n = int(sum(totals))
    accuracy = float(np.dot(accuracies, totals) / n) if n else float("nan")
    low, high = wilson_interval(accuracy, n)
    return accuracy, n, (float(low), float(high))


@dataclass
class BenchTable:
    """A named table of one config (``key``: its hash; ``config``: what was hashed), its genotypes and rows."""

    name: str
    key: str
    config: dict[str, Any]
    genotypes: dict[str, dict[str, Any]]
    rows: list[TableRow]

    def __len__(self) -> int:
        return len(self.genotypes)

    def add(self, genotype: Mapping[str, Any], row: TableRow) -> None:
        """Add a row (a second row of the same architecture and seed replaces nothing: it is ignored)."""
        if any(r.arch == row.arch and r.seed == row.seed for r in self.rows):
            return
        self.genotypes.setdefault(row.arch, dict(genotype))
        self.rows.append(row)

    def records(self) -> dict[str, BenchRecord]:
        """Every architecture's record, by id, in the order of the table's draw."""
        by_arch: dict[str, list[TableRow]] = {}
        for row in sorted(self.rows, key=lambda r: (r.index < 0, r.index, r.seed)):  # a run's results (-1) last
            by_arch.setdefault(row.arch, []).append(row)
        out = {}
        for arch, rows in by_arch.items():
            val, val_n, val_ci = _pooled([r.val_accuracy for r in rows], [r.val_n for r in rows])
            test, test_n, test_ci = _pooled([r.test_accuracy for r in rows], [r.test_n for r in rows])
            out[arch] = BenchRecord(
                arch,
                Genotype.from_dict(self.genotypes[arch]),
                tuple(r.seed for r in rows),
                val,
                val_n,
                val_ci,
                test,
                test_n,
                test_ci,
                tuple(r.val_accuracy for r in rows),
                tuple(r.test_accuracy for r in rows),
            )
        return out

    def lookup(self, genotype: Genotype) -> BenchRecord:
        """The record of ``genotype``; a KeyError naming the table when it holds no such architecture."""
        arch = architecture_id(genotype)
        if arch not in self.genotypes:
            raise KeyError(f"architecture {arch} is not in table {self.name!r} ({len(self)} architectures)")
        return self.records()[arch]

    def lines(self) -> list[dict[str, Any]]:
        """The rows as build lines (:func:`row_record`), e.g. to merge with a run's results of the same config."""
        return [row_record(self.genotypes[r.arch], r, self.key) for r in self.rows]

    def extended(self, lines: Iterable[Mapping[str, Any]]) -> BenchTable:
        """A copy with more build lines (those of this table's config hash; an (architecture, seed) it holds is kept)."""
        return merge_rows(self.name, self.key, self.config, [*self.lines(), *lines])

    # ----------------------------------------------------------------- file

    def to_json(self) -> dict[str, Any]:
        columns = [f.name for f in fields(TableRow)]
        return {
            "name": self.name,
            "version": TABLE_VERSION,
            "key": self.key,
            "config": self.config,
            "columns": columns,
            "rows": [[getattr(r, c) for c in columns] for r in sorted(self.rows, key=lambda r: (r.index, r.seed))],
            "genotypes": self.genotypes,
        }

    def write(self, path: str | Path) -> Path:
        """Write the table as gzip JSON (compact: each genotype once, rows as lists)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(self.to_json(), f, separators=(",", ":"))
        return path

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchTable:
        if data.get("version") != TABLE_VERSION:
            raise ValueError(
                f"accuracy table {data.get('name')!r}: file version {data.get('version')}, expected {TABLE_VERSION}"
            )
        columns = data["columns"]
        rows = [TableRow(**dict(zip(columns, values))) for values in data["rows"]]
        return cls(data["name"], data["key"], dict(data["config"]), dict(data["genotypes"]), rows)

    @classmethod
    def read(cls, path: str | Path) -> BenchTable:
        with gzip.open(Path(path), "rt", encoding="utf-8") as f:
            return cls.from_json(json.load(f))


def row_record(genotype: Mapping[str, Any], row: TableRow, key: str) -> dict[str, Any]:
    """One line of a build's ``rows-*.jsonl``: the row, its genotype and the config hash it belongs to."""
    return {"key": key, "genotype": dict(genotype), **asdict(row)}


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON lines of ``path`` (none if it does not exist; a line cut by a kill is skipped)."""
    path = Path(path)
    if not path.is_file():
        return
    for text in path.read_text().splitlines():
        try:
            yield json.loads(text)
        except json.JSONDecodeError:
            continue


def jsonl_line(line: Mapping[str, Any]) -> str:
    """One JSON line of a rows or results file (compact, newline-terminated)."""
    return json.dumps(line, separators=(",", ":")) + "\n"


def append_jsonl(path: str | Path, line: Mapping[str, Any]) -> None:
    """Append one JSON line, flushed and synced (after a line a kill cut short: on a line of its own)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cut = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        f.write(("\n" if cut else "") + jsonl_line(line))
        f.flush()
        os.fsync(f.fileno())


def merge_rows(name: str, key: str, config: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> BenchTable:
    """The table of the build lines of config hash ``key`` (lines of another hash are left out)."""
    table = BenchTable(name, key, dict(config), {}, [])
    columns = {f.name for f in fields(TableRow)}
    for line in lines:
        if line.get("key") == key:
            table.add(line["genotype"], TableRow(**{k: v for k, v in line.items() if k in columns}))
    return table


def table_names() -> list[str]:
    """The tables shipped with yoso (package data)."""
    folder = resources.files("yoso.bench") / TABLES
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".json.gz") for p in folder.iterdir() if p.name.endswith(".json.gz"))


@cache
def load_table(name: str = DEFAULT_TABLE) -> BenchTable:
    """A shipped table by name, or a table file by path; a ValueError naming the shipped ones when neither."""
    path = Path(name)
    if path.suffixes[-2:] == [".json", ".gz"] and path.is_file():
        return BenchTable.read(path)
    shipped = resources.files("yoso.bench") / TABLES / f"{name}.json.gz"
    if not shipped.is_file():
        raise ValueError(f"no accuracy table {name!r}: shipped tables are {table_names()}, or pass a .json.gz path")
    with resources.as_file(shipped) as file:
        return BenchTable.read(file)


def lookup(genotype: Genotype, table: str = DEFAULT_TABLE) -> BenchRecord:
    """The stand-alone accuracies of ``genotype`` in ``table`` (a shipped name or a path); KeyError if absent."""
    return load_table(table).lookup(genotype)
