"""The command line as a user meets it: help, scenario list, outputs of a run, bad input."""

import json

import pandas as pd
import pytest

from tests.conftest import EXAMPLE, run_cli


@pytest.mark.parametrize("command", [[], ["simulate"], ["scenarios"], ["keys"]])
def test_every_command_has_help(command):
    r = run_cli(*command, "--help")
    assert r.returncode == 0
    assert "usage:" in r.stdout


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_scenarios_lists_the_builtins():
    r = run_cli("scenarios")
    assert r.returncode == 0, r.stderr
    for name in ("kalundborg", "chemelot", "synthetic:N"):
        assert name in r.stdout


@pytest.mark.slow
def test_simulate_writes_the_documented_outputs(tmp_path):
    out = tmp_path / "run"
    r = run_cli("simulate", "--scenario", str(EXAMPLE), "--steps", "20", "--seed", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [".ecopark.json", "config.toml", "decisions.parquet",
                                                     "production.parquet", "summary.json",
                                                     "timeseries.parquet", "trades.parquet"]
    s = json.loads((out / "summary.json").read_text())
    assert (s["scenario"], s["steps"], s["seed"]) == ("example", 20, 3)
    for key in ("gains_from_trade_eur", "savings_vs_baseline_eur", "co2_avoided_t", "active_links",
                "symbiosis_share", "trades"):
        assert key in s["kpis"]
    assert s["flows"] and set(s["flows"][0]) == {"from", "to", "resource", "quantity", "unit"}
    assert {"name", "profit_eur", "savings_eur"} <= set(s["companies"][0])
    assert {"unit", "exchanged", "bought_outside", "disposed"} <= set(s["resources"]["fly_ash"])
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert len(ts) == 20 and list(ts["step"]) == list(range(20))
    trades = pd.read_parquet(out / "trades.parquet")
    assert len(trades) == s["kpis"]["trades"]
    assert trades["delivered"].sum() == pytest.approx(sum(f["quantity"] for f in s["flows"]))
    config = (out / "config.toml").read_text()
    assert "seed = 3" in config and "[provenance.versions]" in config
    prod = pd.read_parquet(out / "production.parquet")
    assert len(prod) == 20 * sum(len(c["processes"]) for c in [{"processes": [p for p in s["processes"]
                                                                           if p["company"] == n["name"]]}
                                                               for n in s["companies"]])
    assert (prod["produced"] <= prod["decided"] + 1e-9).all() and (prod["decided"] <= prod["available"] + 1e-9).all()
    assert {"output_eur", "baseline_output_eur"} <= set(s["companies"][0])


@pytest.mark.slow  # a whole CLI run in a subprocess; the quick subset keeps others
def test_set_changes_the_policy_and_is_recorded(tmp_path):
    out = tmp_path / "taxed"
    r = run_cli("simulate", "--scenario", str(EXAMPLE), "--steps", "5", "--set", "policy.carbon_tax=80",
                "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "carbon_tax = 80.0" in (out / "config.toml").read_text()


@pytest.mark.parametrize("args, expected", [
    (["--set", "policy.carbn_tax=5"], "did you mean 'policy.carbon_tax'?"),
    (["--set", "market.mechanism=cal"], "did you mean 'call'?"),
    (["--set", "steps=-3"], "steps: must be at least 1"),
    (["--set", "policy.carbon_tax=lots"], "must be a number"),
    (["--set", "nokey"], "expected KEY=VALUE"),
    (["--scenario", "kalundborgg"], "did you mean 'kalundborg'?"),
    (["--scenario", "synthetic:abc"], "synthetic:SIZE"),
    (["--scenario", "missing/park.toml"], "file not found"),
])
@pytest.mark.slow
def test_bad_input_exits_2_with_a_clear_error_and_writes_nothing(tmp_path, args, expected):
    out = tmp_path / "never"
    r = run_cli("simulate", "--steps", "3", "--out", str(out), *args)
    assert r.returncode == 2
    assert expected in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_every_problem_of_a_bad_set_is_reported_at_once(tmp_path):
    r = run_cli("simulate", "--out", str(tmp_path / "x"), "--set", "policy.carbn_tax=5", "--set", "seed=-1")
    assert r.returncode == 2
    assert "carbn_tax" in r.stderr and "seed: must be >= 0" in r.stderr


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_keys_lists_every_key_with_its_default():
    r = run_cli("keys")
    assert r.returncode == 0, r.stderr
    for key in ("policy.information", "cooperation.period", "operations.maintenance", "events.outage",
                "events.announced_outage"):
        assert key in r.stdout


@pytest.mark.slow
def test_a_folder_holding_someone_elses_work_is_never_emptied(tmp_path):
    """`--out` on a folder with other files is refused before the run (exit 2), and the files
    stay; a file given as --out is refused too; an earlier run's folder is replaced only with
    --overwrite (experiments.destination)."""
    from experiments import outputs
    from experiments.problems import InputError

    mine = tmp_path / "p"
    mine.mkdir()
    (mine / "thesis.txt").write_text("two years of work")
    r = run_cli("simulate", "--scenario", str(EXAMPLE), "--steps", "2", "--out", str(mine))
    assert r.returncode == 2 and "thesis.txt" in r.stderr and "Traceback" not in r.stderr
    assert (mine / "thesis.txt").read_text() == "two years of work" and sorted(p.name for p in mine.iterdir()) == ["thesis.txt"]
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with pytest.raises(InputError, match="is a file"):
        outputs.claim(afile)
    assert afile.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "p"]  # no lock, nothing else left
