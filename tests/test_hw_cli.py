"""Command line of the simulator (``python -m yoso.hw``) and start-up validation of the hw keys it adds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import compose_config

from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.hw.__main__ import main
from yoso.space import known_genotype


def test_json_happy_path(capsys) -> None:
    assert main(["DARTS_V2", "--pe", "16x32", "--gbuf-kb", "512", "--rbuf-b", "512", "--dataflow", "OS", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"energy_mj", "latency_ms", "breakdown"}
    assert out["energy_mj"] > 0 and out["latency_ms"] > 0
    assert sum(out["breakdown"].values()) == pytest.approx(out["energy_mj"])


def test_table_from_genotype_file(tmp_path, capsys) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(known_genotype("DARTS_V1").to_yaml())
    assert main([str(path), "--pe", "8x8", "--dataflow", "RS"]) == 0
    out = capsys.readouterr().out
    assert "stem" in out and "classifier" in out and "energy" in out and "8x8/512KB/512B/RS" in out


@pytest.mark.parametrize(
    "args, key",
    [
        (["--pe", "16x64"], "--pe"),
        (["--gbuf-kb", "2000"], "gbuf_kb"),
        (["--rbuf-b", "many"], "--rbuf-b"),
        (["--dataflow", "XS"], "dataflow"),
        (["--dataflow", "K-Z"], "--dataflow"),  # an unknown loop dimension
        (["--dataflow", "K-K"], "--dataflow"),  # one dimension on both axes
        (["--loop-order", "KCC"], "--loop-order"),  # not a permutation of KCP
        (["--mapping-objective", "speed"], "mapping_objective"),
    ],
)
def test_bad_values(args: list[str], key: str, capsys) -> None:
    assert main(["DARTS_V2", *args]) == 2
    err = capsys.readouterr().err
    assert key in err and "allowed" in err


def test_connectivity_and_loop_order(capsys) -> None:
    assert main(["DARTS_V2", "--pe", "12x14", "--dataflow", "k-c", "--loop-order", "pkc"]) == 0
    assert "12x14/512KB/512B/K-C/PKC" in capsys.readouterr().out  # canonical (upper-case) forms


def test_unknown_genotype_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "yoso.hw", "NoSuchNet", "--json"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "genotype='NoSuchNet'" in proc.stderr and "DARTS_V2" in proc.stderr


def test_config_hw_tech_validated() -> None:
    validate_config(compose_config("search"))
    with pytest.raises(ConfigError, match="hw.tech"):
        validate_config(compose_config("search", ["hw.tech=no_such_tech"]))
    with pytest.raises(ConfigError, match="hw.deploy.channels"):
        validate_config(compose_config("search", ["hw.deploy.channels=35"]))
    with pytest.raises(ConfigError, match=r"hw.mapping_objective='speed'.*'edp', 'energy', 'latency'"):
        validate_config(compose_config("search", ["hw.mapping_objective=speed"]))
    run = validate_config(compose_config("search", ["hw.mapping_objective=energy"]))
    assert run.hw is not None and run.hw.tech.mapping_objective == "energy"
