"""yoso's accuracy table: python bench.py builds rows resumably and in slices, merges them by config hash, and
yoso.bench.lookup reads the table."""

from __future__ import annotations

import pytest
from helpers import compose_config
from omegaconf import open_dict

from yoso.app.bench import BenchSettings, read_lines, run_bench
from yoso.bench import BenchTable, TableRow, architecture_id, load_table, lookup
from yoso.bench.table import merge_rows, row_record
from yoso.config import ConfigError
from yoso.space.known import KNOWN_GENOTYPES


def _cfg(tmp_path, *overrides: str):
    cfg = compose_config(
        "bench",
        [
            "bench.archs=3",
            "bench.seeds=[0]",
            f"bench.out={tmp_path / 'rows'}",
            f"bench.table={tmp_path / 't.json.gz'}",
            *overrides,
        ],
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    return cfg


def test_build_in_slices_resumes_and_merges_into_a_table(tmp_path) -> None:
    """Two slices build disjoint architectures; a rerun trains nothing; a line cut by a kill is retrained; the merge
    holds every (architecture, seed) once, and lookup finds each architecture."""
    first = run_bench(_cfg(tmp_path, "bench.slices=2", "bench.slice=0"))
    second = run_bench(_cfg(tmp_path, "bench.slices=2", "bench.slice=1"))
    assert (first["trained"], second["trained"]) == (2, 1)  # architectures 0 and 2, then 1
    assert run_bench(_cfg(tmp_path, "bench.slices=2", "bench.slice=0"))["trained"] == 0
    rows = tmp_path / "rows" / "rows-0-of-2.jsonl"
    lines = rows.read_text().splitlines()
    rows.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # the last line cut short by a kill
    assert run_bench(_cfg(tmp_path, "bench.slices=2", "bench.slice=0"))["trained"] == 1
    merged = run_bench(_cfg(tmp_path, "bench.mode=merge"))
    assert (merged["architectures"], merged["rows"]) == (3, 3) and merged["key"] == first["key"]
    table = load_table(str(tmp_path / "t.json.gz"))
    for line in read_lines(tmp_path / "rows"):  # plain JSON lines, one per (architecture, seed)
        assert set(line) >= {"key", "genotype", "arch", "index", "seed", "val_accuracy", "test_accuracy", "val_n"}
        record = table.records()[line["arch"]]
        assert record.seeds == (0,) and record.val_n == line["val_n"] > 0 and 0 <= record.val_accuracy <= 1
        assert record.val_ci95[0] <= record.val_accuracy <= record.val_ci95[1]
        assert (
            lookup(record.genotype, str(tmp_path / "t.json.gz")).arch
            == line["arch"]
            == architecture_id(record.genotype)
        )


def test_the_config_hash_keeps_tables_apart(tmp_path) -> None:
    """Rows of another budget (model.standalone.epochs) are not merged into this config's table."""
    run_bench(_cfg(tmp_path, "bench.archs=1"))
    other = run_bench(_cfg(tmp_path, "bench.archs=1", "model.standalone.epochs=2"))
    assert other["trained"] == 1  # the same architecture, another config: trained again
    merged = run_bench(_cfg(tmp_path, "bench.archs=1", "bench.mode=merge"))
    assert merged["rows"] == 1 and merged["key"] != other["key"]


def test_table_pools_seeds_and_refuses_unknown_architectures(tmp_path) -> None:
    genotype = KNOWN_GENOTYPES["DARTS_V2"]
    arch = architecture_id(genotype)
    lines = [
        row_record(genotype.to_dict(), TableRow(arch, 0, seed, val, val, 1000, 1000, 1.0), "k")
        for seed, val in ((0, 0.8), (1, 0.9))
    ]
    lines.append({**lines[0], "key": "another"})
    table = merge_rows("t", "k", {}, lines)
    assert len(table.rows) == 2
    record = BenchTable.read(table.write(tmp_path / "t.json.gz")).lookup(genotype)
    assert record.val_accuracy == pytest.approx(0.85) and record.val_n == 2000 and record.val_per_seed == (0.8, 0.9)
    with pytest.raises(KeyError, match="not in table 't'"):
        table.lookup(KNOWN_GENOTYPES["ENAS"])
    with pytest.raises(ValueError, match="no accuracy table 'nope'"):
        load_table("nope")


@pytest.mark.parametrize(
    "key, value",
    [("mode", "train"), ("archs", 0), ("seeds", []), ("slice", 2), ("name", "a/b")],
)
def test_bad_bench_values_name_their_key(tmp_path, key, value) -> None:
    node = {"mode": "build", "name": "t", "archs": 2, "arch_seed": 0, "seeds": [0], "slices": 2, "slice": 0}
    node.update({"out": str(tmp_path), "table": str(tmp_path / "t.json.gz"), key: value})
    with pytest.raises(ConfigError) as err:
        BenchSettings.from_config(node)
    assert err.value.key == f"bench.{key}"


def test_indices_train_a_part_of_the_draw_with_another_seed(tmp_path) -> None:
    """bench.indices='1:3' with seeds [1]: only architectures 1 and 2 of the draw get a second seed, pooled in the
    merge; a bad value names the key."""
    run_bench(_cfg(tmp_path))
    second = run_bench(_cfg(tmp_path, "bench.indices='1:3'", "bench.seeds=[1]"))
    assert second["trained"] == 2
    merged = run_bench(_cfg(tmp_path, "bench.mode=merge"))
    assert (merged["architectures"], merged["rows"]) == (3, 5)
    seeds = sorted(r.seeds for r in load_table(str(tmp_path / "t.json.gz")).records().values())
    assert seeds == [(0,), (0, 1), (0, 1)]
    for bad in ("bench.indices=[5]", "bench.indices='a:b'"):
        with pytest.raises(ConfigError) as err:
            run_bench(_cfg(tmp_path, bad))
        assert err.value.key.startswith("bench.indices")
