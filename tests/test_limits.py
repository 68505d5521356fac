"""Runs too large for the machine are refused before they start, with the estimate and what to
change (`experiments.limits`), instead of growing until the machine gives out; hostile input
gets a message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from experiments import limits, scenario_io, sweep
from experiments.config import parse_sets, resolve
from experiments.problems import InputError
from tests.conftest import run_cli

GB = 1e9


@pytest.fixture
def eight_gb(monkeypatch):
    monkeypatch.setattr(limits, "available", lambda: 8 * GB)
    monkeypatch.setattr(limits, "disk_free", lambda: 100 * GB)


def test_a_run_too_long_for_memory_is_refused_with_the_most_that_fits(eight_gb):
    assert limits.check_run(10, 3650).bytes < 1 * GB  # ten years of Kalundborg fit
    with pytest.raises(InputError) as e:
        limits.check_run(10, 1_000_000_000)
    (msg,) = e.value.problems
    assert "1,000,000,000 steps of a 10-company park need about 6.0 TB" in msg and "at most about" in msg
    most = int(msg.split("at most about ")[1].split(" steps")[0].replace(",", ""))
    limits.check_run(10, most)  # the figure it names does fit
    with pytest.raises(InputError):
        limits.check_run(10, most * 2)


def test_memory_does_not_grow_with_steps_but_the_logs_need_disk(eight_gb, monkeypatch):
    """The logs spool to the temporary folder (agents.spool): a long run of a large park is
    bounded by that disk, and the refusal says how to point it elsewhere."""
    ten_years = limits.check_run(1000, 3650)
    assert ten_years.bytes < 0.5 * GB and 1 * GB < ten_years.disk < 2 * GB
    monkeypatch.setattr(limits, "disk_free", lambda: 1 * GB)
    with pytest.raises(InputError) as e:
        limits.check_run(1000, 3650)
    (msg,) = e.value.problems
    assert "log about 1.5 GB of trades and production" in msg and "TMPDIR" in msg
    most = int(msg.split("at most about ")[1].split(" steps")[0].replace(",", ""))
    limits.check_run(1000, most)


def test_a_synthetic_park_too_large_to_generate_is_refused_before_generating(eight_gb):
    with pytest.raises(InputError, match=r"synthetic:100000': generating 100,000 companies needs about 35.2 GB"):
        scenario_io.load("synthetic:100000")
    assert len(scenario_io.load("synthetic:50").companies) == 50


def test_a_sweep_of_a_billion_runs_is_refused_without_drawing_them(eight_gb, tmp_path):
    f = tmp_path / "big.toml"
    f.write_text('[sweep]\nname = "big"\ndesign = "lhs"\nsamples = 100000\nreplicates = 100000\nseed = 1\n'
                 '[base]\nscenario = "kalundborg"\nsteps = 5\n[parameters]\n'
                 '"policy.carbon_tax" = { min = 0, max = 100 }\n"market.k" = [0.2, 0.8]\n')
    with pytest.raises(InputError, match=r"20,000,000,000 runs would hold about 80.0 TB"):
        sweep.read(f)
    f.write_text(f.read_text().replace("replicates = 100000", "replicates = 2").replace("samples = 100000",
                                                                                          "samples = 3"))
    s = sweep.read(f)
    assert s.count() == len(s.runs()) == 12


@pytest.mark.parametrize("sets, message", [
    (["policy.carbon_tax=inf"], "policy.carbon_tax: must be a finite number"),
    (["policy.carbon_tax=1e400"], "policy.carbon_tax: must be a finite number"),
    (["policy.exchange_subsidy=nan"], "policy.exchange_subsidy: must be a finite number"),
    (["market.strategies.zic=nan"], "market.strategies.zic: must be a finite number"),
])
def test_numbers_that_are_not_finite_are_refused(sets, message):
    with pytest.raises(InputError, match=message):
        resolve("kalundborg", 3, 0, parse_sets(sets))


@pytest.mark.parametrize("scenario, message", [
    ("", "scenario: the name is empty"),
    ("synthetic:²", "write synthetic:SIZE"),
])
def test_a_scenario_name_that_names_nothing_is_refused(scenario, message):
    with pytest.raises(InputError, match=message):
        scenario_io.load(scenario)


def test_a_folder_given_as_a_file_is_named_as_such(tmp_path):
    from experiments import market_lab, schemes

    with pytest.raises(InputError, match="is a folder, not a scenario file"):
        scenario_io.load(str(tmp_path))
    with pytest.raises(InputError, match="is a folder, not a market file"):
        market_lab.read_market(tmp_path)
    with pytest.raises(InputError, match="is a folder, not a scheme file"):
        schemes.load(str(tmp_path))
    bad = tmp_path / "s.toml"
    bad.write_text("scheme = 5\n")
    with pytest.raises(InputError, match="scheme: must be a table"):
        schemes.load(str(bad))
    bad.write_text("market = 5\n[[buyers]]\nvalues = [1.0]\n[[sellers]]\ncosts = [nan]\n")
    with pytest.raises(InputError) as e:
        market_lab.read_market(bad)
    assert "market: must be a table" in e.value.problems[0]
    assert any("sellers[0].costs: must be a non-empty list of finite numbers" in m for m in e.value.problems)


@pytest.mark.slow  # whole CLI runs in subprocesses
def test_the_runaways_exit_2_at_once_and_write_nothing(tmp_path):
    for args in (["simulate", "--steps", "1000000000"], ["compare", "--steps", "2", "--replicates", "1000000000"],
                 ["resilience", "--steps", "2", "--random-orders", "1000000000"]):
        r = run_cli(*args, "--out", str(tmp_path / "out"))
        assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout, (args, r.stderr)
        assert "more than this machine can give" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_stops_the_command_with_a_message_and_keeps_nothing_half_written(tmp_path, monkeypatch, capsys):
    import errno

    import pandas as pd

    import run
    from tests.conftest import EXAMPLE

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "trades.parquet")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "out"
    assert run.main(["simulate", "--scenario", str(EXAMPLE), "--steps", "2", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full writing trades.parquet" in err and "nothing half-written was kept" in err
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary folder, no lock


def test_a_disk_that_fills_during_the_run_stops_it_with_a_message_naming_the_temporary_folder(tmp_path, monkeypatch,
                                                                                              capsys):
    """The run's logs spool to TMPDIR as it goes (agents.spool): a full disk there is named."""
    import errno

    import run
    from agents import spool
    from tests.conftest import EXAMPLE

    class Full:
        def seek(self, *a):
            return 0

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(spool, "CHUNK_ROWS", 4)
    monkeypatch.setattr(spool.tempfile, "TemporaryFile", lambda **k: Full())
    out = tmp_path / "out"
    assert run.main(["simulate", "--scenario", str(EXAMPLE), "--steps", "5", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "the disk is full writing the run's log in" in err and "(TMPDIR)" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("old, new, message", [
    ("capacity = 10000", "capacity = 1e308", "capacity: must be at most 1e+15 in size"),
    ('name = "Fish farm"', 'name = ""', "companies[2].name: must not be empty"),
    ('name = "Fish farm"', 'name = "Fish\\u0007farm"', "companies[2].name: holds a control character"),
    ('name = "Cement works"', 'name = "Fish farm "', "companies[1].name: has spaces at its ends ('Fish farm ')"),
    ('resource = "waste_heat"\n', 'resource = "waste_heat"\n\n[[pipelines]]\nfrom = "Fish farm"\nto = "Power station"\n'
     'resource = "waste_heat"\n', "duplicate pipeline: an earlier [[pipelines]] table already joins"),
])
def test_a_scenario_with_garbage_is_refused_not_run(old, new, message):
    import tomllib

    from tests.conftest import EXAMPLE

    text = EXAMPLE.read_text()
    assert old in text
    with pytest.raises(InputError) as e:
        scenario_io.parse(tomllib.loads(text.replace(old, new, 1)), "x.toml")
    assert any(message in m for m in e.value.problems), e.value.problems


def test_an_outage_after_the_last_step_and_a_seed_that_would_be_ignored_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"Gyproc@300 starts at step 300, after the run's last step 4"):
        resolve("kalundborg", 5, 0, parse_sets(["events.outage=Gyproc@300:2"]))
    resolve("kalundborg", 5, 0, parse_sets(["events.outage=Gyproc@4:2"]))  # the last step is fine
    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nname = "s"\ndesign = "grid"\n[base]\nscenario = "kalundborg"\nsteps = 5\nseed = 1.5\n'
                 '[parameters]\n"policy.carbon_tax" = [0, 10]\n')
    with pytest.raises(InputError, match=r"base.seed: a sweep's runs take their seeds from \[sweep\] seed"):
        sweep.read(f)
