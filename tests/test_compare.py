"""Incentive schemes as files, and their comparison on common seeds."""


import numpy as np
import pandas as pd
import pytest

from experiments import compare, schemes
from experiments.problems import InputError
from tests.conftest import EXAMPLE, run_cli


def test_builtin_schemes_load_and_set_policy_levers():
    assert {"baseline", "carbon-tax", "landfill-tax", "exchange-subsidy"} <= set(schemes.builtin_names())
    assert schemes.load("baseline").sets == ()
    assert dict(schemes.load("exchange-subsidy").sets) == {"policy.exchange_subsidy": 5.0}


def test_a_bad_scheme_names_the_lever_and_the_fix(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("[scheme]\nname = 'x'\n[policy]\ncarbn_tax = 3\nlandfill_tax = -1\n")
    with pytest.raises(InputError) as e:
        schemes.load(str(bad))
    text = "\n".join(e.value.problems)
    assert "did you mean 'policy.carbon_tax'?" in text and "landfill_tax: must be >= 0" in text
    with pytest.raises(InputError, match="did you mean 'carbon-tax'"):
        schemes.load("carbon-tx")


def test_confidence_interval_matches_a_hand_computation():
    m, lo, hi = compare.ci(np.array([1.0, 2.0, 3.0, 4.0]))
    # t(0.975, 3) = 3.182446; sd = 1.290994; half = 3.182446 * 1.290994 / 2 = 2.054
    assert m == 2.5 and hi - m == pytest.approx(2.0542, abs=1e-4) and m - lo == pytest.approx(hi - m)


def test_schemes_run_on_common_seeds_and_the_subsidy_is_paid_for():
    found = [schemes.load("baseline"), schemes.load("exchange-subsidy")]
    df = compare.run(str(EXAMPLE), found, replicates=2, steps=10, root_seed=3)
    assert (df["status"] == "ok").all() and len(df) == 4
    seeds = df.groupby("scheme")["seed"].apply(list)
    assert seeds["baseline"] == seeds["exchange-subsidy"]
    table = compare.summarise(df, ["baseline", "exchange-subsidy"])
    get = lambda s, k: table[(table.scheme == s) & (table.kpi == k)]["mean"].iloc[0]  # noqa: E731
    assert get("baseline", "subsidies_eur") == 0
    assert get("exchange-subsidy", "subsidies_eur") > 0
    assert get("exchange-subsidy", "government_net_cost_eur") == pytest.approx(
        get("exchange-subsidy", "subsidies_eur") - get("exchange-subsidy", "taxes_eur"))
    assert get("exchange-subsidy", "gains_from_trade_eur") > get("baseline", "gains_from_trade_eur")


@pytest.mark.slow
def test_compare_on_the_command_line_writes_csv_and_chart(tmp_path):
    out = tmp_path / "cmp"
    r = run_cli("compare", "--scenario", str(EXAMPLE), "--schemes", "baseline,carbon-tax", "--replicates", "2",
                "--steps", "10", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "carbon-tax" in r.stdout
    table = pd.read_csv(out / "compare.csv")
    assert set(table["scheme"]) == {"baseline", "carbon-tax"}
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("compare", "--schemes", "baseline,carbon-tx", "--out", str(tmp_path / "no"))
    assert bad.returncode == 2 and "did you mean 'carbon-tax'" in bad.stderr and not (tmp_path / "no").exists()


def test_a_cost_per_tonne_only_where_the_scheme_avoids_more_co2():
    """Two replicates each of a reference and two schemes, by hand: one avoids 10 t more at an
    extra cost of EUR 500 (EUR 50 per t); one raises revenue and emits more, where a ratio of
    two negative numbers would read as a price."""
    rows = []
    for r in (0, 1):
        rows += [{"scheme": "ref", "replicate": r, "co2_t": 100.0, "government_net_cost_eur": 0.0},
                 {"scheme": "green", "replicate": r, "co2_t": 90.0, "government_net_cost_eur": 500.0},
                 {"scheme": "taxing", "replicate": r, "co2_t": 110.0, "government_net_cost_eur": -1000.0}]
    df = pd.DataFrame(rows).assign(status="ok")
    for k in compare.MAIN:
        if k not in df:
            df[k] = 0.0
    table = compare.summarise(df, ["ref", "green", "taxing"])
    per_t = table[table.kpi == "cost_per_t_co2_avoided_eur"].set_index("scheme")["mean"]
    assert per_t["green"] == pytest.approx(50.0)
    assert np.isnan(per_t["taxing"]) and np.isnan(per_t["ref"])
