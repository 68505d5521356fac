"""The report of a sweep folder: statistics, sensitivity indices, charts and the EMA export.

Most folders here are written by hand (manifest.json and results.parquet, as experiments/
sweep_run.py lays them out) so that the KPIs are known functions of the parameters; one is a
real sweep of a few short runs.
"""

import dataclasses
import io
import json
import math
import tarfile
import tomllib

import numpy as np
import pandas as pd
import pytest

from experiments import report, runner, sweep, sweep_run
from experiments.problems import InputError
from tests.conftest import EXAMPLE

KPIS = ("gains_from_trade_eur", "savings_vs_baseline_eur", "co2_avoided_t", "market_efficiency",
        "mechanism_budget_eur")
PNG = b"\x89PNG\r\n\x1a\n"


def parse(body: str, design: str, samples: int = 8, replicates: int = 1) -> sweep.Sweep:
    text = (f'[sweep]\nname = "test"\ndesign = "{design}"\nsamples = {samples}\nreplicates = {replicates}\n'
            f'seed = 3\n[base]\nscenario = "{EXAMPLE}"\nsteps = 10\n[parameters]\n{body}')
    return sweep.parse(tomllib.loads(text), "sweep test.toml", text)


def write_folder(folder, spec: sweep.Sweep, kpis) -> pd.DataFrame:
    """A sweep folder whose KPIs are `kpis(params, replicate)` -> dict, every run ok."""
    sweep_run.Store(folder, spec).open(resume=False)  # writes manifest.json as a real sweep does
    rows = []
    for run in spec.runs():
        row = {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "seed": run.seed,
               **run.sets(), **kpis(run.sets(), run.replicate), "status": "ok", "error": "",
               "wall_s": 0.01, "worker_pid": 1}
        rows.append(row)
    df = pd.DataFrame(rows)
    df.to_parquet(folder / "results.parquet", index=False)
    return df


def fail(folder, run_ids, message="ValueError: no market\nTraceback (most recent call last):\n  ..."):
    """Mark runs as failed, leaving an absurd KPI value behind that no statistic may use."""
    df = pd.read_parquet(folder / "results.parquet")
    hit = df["run_id"].isin(run_ids)
    df.loc[hit, "status"] = "error"
    df.loc[hit, "error"] = message
    df.loc[hit, "gains_from_trade_eur"] = 1e12
    df.to_parquet(folder / "results.parquet", index=False)


def grid_kpis(values):
    """KPIs of a grid: gains from `values[(tax, replicate)]`, market efficiency NaN at tax 20."""
    def kpis(p, r):
        tax = p["policy.carbon_tax"]
        return {"gains_from_trade_eur": values[(tax, r)], "savings_vs_baseline_eur": 2.0 * values[(tax, r)],
                "co2_avoided_t": 5.0, "market_efficiency": math.nan if tax == 20 else 1.0,
                "mechanism_budget_eur": 0.0}
    return kpis


def write_grid(folder):
    spec = parse('"policy.carbon_tax" = [0, 10, 20]', "grid", replicates=3)
    values = {(0, 0): 1.0, (0, 1): 2.0, (0, 2): 3.0, (10, 0): 10.0, (10, 1): 20.0, (10, 2): 60.0,
              (20, 0): 7.0, (20, 1): 7.0, (20, 2): 7.0}
    write_folder(folder, spec, grid_kpis(values))
    return folder


@pytest.fixture
def grid(tmp_path):
    return write_grid(tmp_path)


@pytest.fixture(scope="module")
def grid_report(tmp_path_factory):
    """The grid's folder and printed report, written once for the tests that only read them."""
    folder = write_grid(tmp_path_factory.mktemp("grid"))
    return folder, report.write_report(folder)


def stats(folder, tax, kpi="gains_from_trade_eur"):
    s = pd.read_csv(folder / "report" / "summary.csv")
    return s[(s["policy.carbon_tax"] == tax) & (s["kpi"] == kpi)].iloc[0]


def test_mean_and_confidence_interval_match_a_hand_computation(grid_report):
    grid, _ = grid_report
    # 1, 2, 3: mean 2, sample std 1, t(0.975, 2 df) = 4.303 from a table: 2 -+ 4.303 / sqrt(3)
    r = stats(grid, 0)
    assert (r["n"], r["failed"], r["mean"], r["std"]) == (3, 0, 2.0, 1.0)
    assert r["ci_low"] == pytest.approx(2 - 4.3027 / math.sqrt(3), abs=1e-4)
    assert r["ci_high"] == pytest.approx(2 + 4.3027 / math.sqrt(3), abs=1e-4)
    # 10, 20, 60: mean 30, std sqrt(700)
    r = stats(grid, 10)
    assert r["mean"] == 30.0 and r["std"] == pytest.approx(math.sqrt(700))
    assert r["ci_high"] - r["mean"] == pytest.approx(4.3027 * math.sqrt(700) / math.sqrt(3), rel=1e-4)
    # a KPI undefined in every run of a point has no value there, not a zero
    r = stats(grid, 20, "market_efficiency")
    assert r["n"] == 0 and math.isnan(r["mean"]) and math.isnan(r["ci_low"])


def test_one_run_has_a_mean_but_no_interval(tmp_path):
    spec = parse('"policy.carbon_tax" = [0, 10]', "grid")
    write_folder(tmp_path, spec, grid_kpis({(0, 0): 4.0, (10, 0): 5.0}))
    report.write_report(tmp_path)
    r = stats(tmp_path, 0)
    assert r["n"] == 1 and r["mean"] == 4.0
    assert math.isnan(r["std"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])


def test_failed_runs_are_listed_and_left_out_of_every_statistic(grid):
    fail(grid, ["p00000-r002"])
    text = report.write_report(grid)
    r = stats(grid, 0)
    assert (r["n"], r["failed"], r["mean"]) == (2, 1, 1.5)
    assert "1 failed" in text
    assert "p00000-r002 ValueError: no market" in text
    assert "Traceback" not in text  # the first line of the error, not the whole trace
    f = pd.read_csv(grid / "report" / "failures.csv")
    assert list(f["run_id"]) == ["p00000-r002"] and list(f["error"]) == ["ValueError: no market"]
    exp = pd.read_csv(grid / "report" / "ema_experiments.csv")
    assert "p00000-r002" not in set(exp["run_id"]) and len(exp) == 8


def test_a_grid_report_prints_a_table_of_the_main_kpis(grid_report):
    grid, text = grid_report
    assert "Mean ± 95 % CI" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("0 "))
    assert "2 ± 2.48" in line  # gains at tax 0: 2 -+ 4.303 / sqrt(3)
    assert text == (grid / "report" / "report.txt").read_text().rstrip("\n")
    assert 'pd.read_parquet("' in text


def linear(p, r):
    """y = 4 x1 + x2 with x3 unused, plus noise that the two replicates of a point cancel."""
    x1, x2 = p["policy.carbon_tax"], p["policy.landfill_tax"]
    y = 4 * x1 + x2 + (0.3 if r == 0 else -0.3)
    return {"gains_from_trade_eur": y, "savings_vs_baseline_eur": -y, "co2_avoided_t": 1.0,
            "market_efficiency": 1.0, "mechanism_budget_eur": 0.0}


RANGES = ('"policy.carbon_tax" = { min = 0, max = 1 }\n"policy.landfill_tax" = { min = 0, max = 2 }\n'
          '"policy.virgin_tax" = { min = 0, max = 1 }\n')


def indices(table, kpi, index):
    s = table[(table["kpi"] == kpi) & (table["index"] == index)].set_index("parameter")["value"]
    return s["policy.carbon_tax"], s["policy.landfill_tax"], s["policy.virgin_tax"]


@pytest.mark.slow
def test_sobol_indices_of_a_known_function(tmp_path):
    write_folder(tmp_path, parse(RANGES, "sobol", samples=64, replicates=2), linear)
    text = report.write_report(tmp_path)
    table = pd.read_csv(tmp_path / "report" / "sensitivity.csv")
    # x1 on [0, 1], x2 on [0, 2]: Var(4 x1) = 16/12, Var(x2) = 4/12, so S1 = ST = 0.8, 0.2, 0
    s1 = indices(table, "gains_from_trade_eur", "S1")
    st = indices(table, "gains_from_trade_eur", "ST")
    assert s1[0] > s1[1] > abs(s1[2]) and st[0] > st[1] > abs(st[2])
    assert s1 == pytest.approx((0.8, 0.2, 0), abs=0.05)
    assert st == pytest.approx((0.8, 0.2, 0), abs=0.05)
    assert "co2_avoided_t: constant" in text and "sensitivity.csv" in text
    assert set(table["index"]) == {"S1", "S1_conf", "ST", "ST_conf"}


def test_morris_mu_star_of_a_known_function(tmp_path):
    # the indices alone, without the charts of a whole report (the slow part)
    write_folder(tmp_path, parse(RANGES, "morris", samples=10, replicates=2), linear)
    table, notes = report.sensitivity(report.load(tmp_path))
    # a linear function has the same elementary effect everywhere: its slope times the range
    assert indices(table, "gains_from_trade_eur", "mu_star") == pytest.approx((4, 2, 0), abs=1e-9)
    assert indices(table, "savings_vs_baseline_eur", "mu") == pytest.approx((-4, -2, 0), abs=1e-9)
    assert indices(table, "gains_from_trade_eur", "sigma") == pytest.approx((0, 0, 0), abs=1e-9)
    assert set(table["index"]) == {"mu", "mu_star", "mu_star_conf", "sigma"}


TWO_RANGES = '"policy.carbon_tax" = { min = 0, max = 1 }\n"policy.landfill_tax" = { min = 0, max = 2 }\n'


def test_a_point_without_an_ok_run_leaves_its_kpis_without_indices(tmp_path):
    write_folder(tmp_path, parse(TWO_RANGES, "sobol", samples=8), linear)
    fail(tmp_path, ["p00005-r000"])
    table, notes = report.sensitivity(report.load(tmp_path))
    assert "gains_from_trade_eur: indices cannot be computed: every run failed at 1 of 32 points (e.g. point 5)" \
        in notes
    assert table.empty


def test_an_unfinished_sweep_gets_no_indices(tmp_path):
    df = write_folder(tmp_path, parse(TWO_RANGES, "morris", samples=4), linear)
    df[df["point"] < 8].to_parquet(tmp_path / "results.parquet", index=False)
    table, notes = report.sensitivity(report.load(tmp_path))
    assert table is None and notes[0].startswith("no morris indices: 4 of 12 design points were never run")
    assert "--resume" in notes[0]


def test_a_sweep_whose_every_run_failed_still_gets_a_report(tmp_path):
    spec = parse('"policy.carbon_tax" = [0, 10]', "grid")
    sweep_run.run_sweep(spec, tmp_path, run_fn=_scenario_gone, progress=False)
    text = report.write_report(tmp_path)
    assert "0 ok, 2 failed" in text and "p00001-r000 InputError: " in text
    assert pd.read_csv(tmp_path / "report" / "summary.csv").empty
    assert len(pd.read_csv(tmp_path / "report" / "failures.csv")) == 2


def _scenario_gone(task):
    """A run whose scenario file has gone: execute records the error as the run's row."""
    return sweep_run.execute(dataclasses.replace(task, scenario=str(EXAMPLE.with_name("gone.toml")), scenario_text=""))


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_charts_are_png_files_named_by_parameter(tmp_path, grid_report):
    grid, _ = grid_report
    assert (grid / "report" / "kpi_vs_policy_carbon_tax.png").read_bytes()[:8] == PNG
    sampled = tmp_path / "sampled"
    sampled.mkdir()
    write_folder(sampled, parse(RANGES, "lhs", samples=12), linear)
    report.write_report(sampled)
    for key in ("carbon_tax", "landfill_tax", "virgin_tax"):
        assert (sampled / "report" / f"kpi_vs_policy_{key}.png").read_bytes()[:8] == PNG


def test_two_grid_axes_one_of_names(tmp_path):
    spec = parse('"policy.carbon_tax" = [0, 10]\n"market.mechanism" = ["call", "cda"]', "grid", replicates=2)
    write_folder(tmp_path, spec, lambda p, r: {k: float(p["policy.carbon_tax"] + r) for k in KPIS})
    text = report.write_report(tmp_path)
    assert (tmp_path / "report" / "kpi_vs_market_mechanism.png").read_bytes()[:8] == PNG
    assert (tmp_path / "report" / "kpi_vs_policy_carbon_tax.png").read_bytes()[:8] == PNG
    assert "cda" in text
    with tarfile.open(tmp_path / "report" / "ema_results.tar.gz") as tar:
        meta = json.load(tar.extractfile("metadata.json"))
    assert meta["experiments"]["market.mechanism"] == "category"


def test_ema_export_in_the_workbench_layout(grid):
    fail(grid, ["p00001-r000"])
    report.write_report(grid)
    runs = pd.read_parquet(grid / "results.parquet")
    ok = runs[runs["status"] == "ok"].sort_values("run_id")
    with tarfile.open(grid / "report" / "ema_results.tar.gz", "r:gz") as tar:
        names = set(tar.getnames())
        meta = json.load(tar.extractfile("metadata.json"))
        exp = pd.read_csv(tar.extractfile("experiments.csv"))
        # as ema_workbench 3.0's load_results reads each ScalarOutcome
        outcomes = {name: pd.read_csv(tar.extractfile(file), index_col=False, header=None).values.reshape(-1)
                    for kind, name, file in meta["outcomes"] if kind == "ScalarOutcome"}
    assert names == {"experiments.csv", "metadata.json", *(f"{k}.cls" for k in KPIS)}
    assert meta["version"] == 0.1 and len(meta["outcomes"]) == len(KPIS)
    assert list(exp.columns) == ["policy.carbon_tax", "seed", "scenario", "policy", "model"]
    assert list(meta["experiments"]) == list(exp.columns)
    assert meta["experiments"]["scenario"] == "category" and meta["experiments"]["seed"] == "int64"
    assert list(exp["scenario"]) == list(ok["point"]) and set(exp["model"]) == {"ecopark"}
    assert set(exp["policy"]) == {"none"}  # a name that pandas does not read back as missing
    assert list(exp["seed"]) == list(ok["seed"])
    for k in KPIS:
        np.testing.assert_array_equal(outcomes[k], ok[k].to_numpy(float))  # NaN stays NaN
    plain = pd.read_csv(grid / "report" / "ema_outcomes.csv")
    assert list(plain["run_id"]) == list(ok["run_id"])
    np.testing.assert_array_equal(plain["gains_from_trade_eur"], outcomes["gains_from_trade_eur"])


def test_a_folder_that_is_not_a_finished_sweep_is_refused_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"no such folder: run `python run\.py sweep FILE --out"):
        report.write_report(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no manifest.json") as e:
        report.write_report(tmp_path)
    assert str(tmp_path) in str(e.value)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match=r"no results.parquet.*--resume"):
        report.write_report(tmp_path)


def test_a_rewritten_report_replaces_the_old_one_whole(grid):
    report.write_report(grid)
    (grid / "report" / "stale.txt").write_text("from an older report")
    report.write_report(grid)
    assert not (grid / "report" / "stale.txt").exists()
    assert sorted(p.name for p in grid.iterdir()) == ["manifest.json", "report", "results.parquet", "runs"]


def test_the_report_knows_every_kpi_a_run_has():
    cfg, park = runner.resolve(str(EXAMPLE), 3, 0, {})
    assert set(runner.simulate(cfg, park).summary["kpis"]) == set(report.KPI_LABELS)


def test_a_real_sweep_of_short_runs(tmp_path):
    spec = parse('"policy.carbon_tax" = [0, 40]', "grid", replicates=2)
    df = sweep_run.run_sweep(spec, tmp_path, progress=False)
    assert (df["status"] == "ok").all()
    text = report.write_report(tmp_path)
    s = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert report.load(tmp_path).kpis == tuple(report.KPI_LABELS)
    assert len(s) == 2 * len(report.KPI_LABELS)
    # NaN where nothing could be gained (efficiency), nothing was saved (Gini), nothing failed
    # (recovery), or the run did not follow the synchronised plan (side payments, guarantee)
    undefined = ["market_efficiency", "gini_benefits", "mean_recovery_steps", "side_payments_eur",
                 "operator_guarantee_eur"]
    assert set(s.loc[~s["kpi"].isin(undefined), "n"]) == {2}
    assert "gains_from_trade_eur" in text and "0 failed" in text
    assert (tmp_path / "report" / "kpi_vs_policy_carbon_tax.png").read_bytes()[:8] == PNG
    with tarfile.open(tmp_path / "report" / "ema_results.tar.gz") as tar:
        exp = pd.read_csv(io.BytesIO(tar.extractfile("experiments.csv").read()))
    assert len(exp) == 4
