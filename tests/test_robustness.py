"""The park's robustness curve and criticality table (experiments.robustness) on Kalundborg."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from experiments import robustness as rb
from experiments.config import resolve
from experiments.problems import InputError

STEPS = 30  # short runs: enough to rank Kalundborg's companies
ASNAES = "Asnaes power station"


@pytest.fixture(scope="module")
def kalundborg():
    return resolve("kalundborg", STEPS, 0, {})


@pytest.fixture(scope="module")
def runs(kalundborg):
    cfg, park = kalundborg
    return rb.Runs(cfg, park, STEPS)


@pytest.fixture(scope="module")
def crit(kalundborg, runs):
    cfg, park = kalundborg
    return rb.criticality(cfg, park, STEPS, runs=runs)


@pytest.fixture(scope="module")
def degree_curve(kalundborg, runs):
    cfg, park = kalundborg
    return rb.curve(cfg, park, "degree", STEPS, runs=runs)


@pytest.fixture(scope="module")
def random_curve(kalundborg, runs):
    cfg, park = kalundborg
    return rb.curve(cfg, park, "random", STEPS, 3, 0, runs=runs)


# ---- remove and degree --------------------------------------------------------------------

def test_remove_drops_company_pipelines_and_targets(kalundborg):
    _, park = kalundborg
    assert any(ASNAES in (p.source, p.target) for p in park.pipelines)
    assert any(ASNAES in (t.from_company, t.to_company, t.company) for t in park.targets)
    smaller = rb.remove(park, [ASNAES])
    names = [c.name for c in smaller.companies]
    assert ASNAES not in names
    assert names == [c.name for c in park.companies if c.name != ASNAES]  # order kept
    assert not any(ASNAES in (p.source, p.target) for p in smaller.pipelines)
    assert not any(ASNAES in (t.from_company, t.to_company, t.company) for t in smaller.targets)
    # Pipelines and targets between the others stay; the original park is untouched.
    assert [p for p in park.pipelines if ASNAES not in (p.source, p.target)] == list(smaller.pipelines)
    assert {t.label for t in smaller.targets} == {"sulphur refinery -> Kemira", "sludge Novo -> farms",
                                                  "yeast Novo -> pig farms", "fish farm output",
                                                  "water saved (re-used water)", "CO2 avoided"}
    assert len(park.companies) == 10
    # A single name may be given as a string; removing nobody is the park itself.
    assert rb.remove(park, "Kemira") == rb.remove(park, ["Kemira"])
    assert rb.remove(park, []) is park


def test_remove_unknown_company_names_it(kalundborg):
    _, park = kalundborg
    with pytest.raises(ValueError, match="'Asnes power station'") as e:
        rb.remove(park, ["Gyproc", "Asnes power station", "Nobody"])
    assert "'Nobody'" in str(e.value)


def test_degree_counts_distinct_undirected_partners():
    flows = [{"from": "A", "to": "B", "resource": "steam"}, {"from": "A", "to": "B", "resource": "gypsum"},
             {"from": "B", "to": "A", "resource": "gas"}, {"from": "C", "to": "A", "resource": "ash"},
             {"from": "D", "to": "D", "resource": "heat"}]
    summary = {"flows": flows, "companies": [{"name": x} for x in "ABCDE"]}
    expected = {"A": 2, "B": 1, "C": 1, "D": 0, "E": 0}
    assert rb.degree(summary) == expected
    assert rb.degree(SimpleNamespace(summary=summary)) == expected  # a RunResult


# ---- criticality --------------------------------------------------------------------------

@pytest.mark.slow
def test_asnaes_is_most_critical_and_strands_cement_and_fish_farm(crit):
    # Chopra & Khanna (2014): Asnaes is the most critical node; removing it disconnects the
    # cement plant, the fish farm and other peripheral users.
    top = crit.iloc[0]
    assert top["company"] == ASNAES and top["rank"] == 1
    assert top["partners"] == crit["partners"].max()
    stranded = set(top["stranded_companies"].split("; "))
    assert {"Aalborg Portland", "Fish farm"} <= stranded
    assert top["stranded"] == len(stranded)
    assert top["loss_share"] > 0.5


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_criticality_table_is_consistent(crit):
    intact = crit.attrs["intact_gains_eur_per_year"]
    assert intact > 0
    assert len(crit) == 10 and crit["company"].is_unique
    assert list(crit["rank"]) == list(range(1, 11))
    assert crit["loss_eur_per_year"].is_monotonic_decreasing
    assert (crit["loss_eur_per_year"] - (intact - crit["gains_without_eur_per_year"])).abs().max() < 1e-6
    assert (crit["loss_share"] - crit["loss_eur_per_year"] / intact).abs().max() < 1e-12
    # Only companies others depend on strand anyone; a leaf strands nobody.
    assert crit.set_index("company").loc["Kemira", "stranded"] == 0
    assert "Kemira" in crit.set_index("company").loc["Statoil refinery", "stranded_companies"]


# ---- robustness curves --------------------------------------------------------------------

def test_degree_curve_starts_whole_and_ends_at_zero(degree_curve, crit):
    d = degree_curve
    assert len(d) == 11 and list(d["removed"]) == list(range(11))
    assert d.loc[0, "gains_share"] == 1.0 and d.loc[0, "share_removed"] == 0.0
    assert d.loc[0, "gains_eur_per_year"] == pytest.approx(crit.attrs["intact_gains_eur_per_year"])
    assert d.loc[10, "share_removed"] == 1.0
    assert d.loc[10, "gains_eur_per_year"] == 0.0 and d.loc[9, "gains_eur_per_year"] == 0.0
    assert d.loc[10, "in_exchange"] == 0
    assert d.loc[1, "company_removed"] == ASNAES  # the hub has most partners
    assert sorted(d["company_removed"][1:]) == sorted(crit["company"])  # each removed once
    # Asnaes removed alone: the same run as in the criticality table.
    assert d.loc[1, "gains_eur_per_year"] == pytest.approx(
        crit.set_index("company").loc[ASNAES, "gains_without_eur_per_year"])


@pytest.mark.slow
def test_targeted_removal_hurts_at_least_as_much_as_random(degree_curve, random_curve):
    r = random_curve
    assert len(r) == 11 and (r["orders"] == 3).all()
    assert r.loc[0, ["gains_share", "gains_share_min", "gains_share_max"]].tolist() == [1.0, 1.0, 1.0]
    assert (r["gains_share_min"] <= r["gains_share"] + 1e-12).all()
    assert (r["gains_share"] <= r["gains_share_max"] + 1e-12).all()
    assert r.loc[10, "gains_eur_per_year"] == 0.0 and r.loc[9, "gains_eur_per_year"] == 0.0
    assert degree_curve.loc[1, "gains_share"] <= r.loc[1, "gains_share"]
    # Summed over the whole curve, the targeted attack leaves less than random failures.
    assert degree_curve["gains_share"].sum() < r["gains_share"].sum()


@pytest.mark.slow
def test_same_inputs_give_identical_frames(kalundborg, crit, degree_curve, random_curve):
    cfg, park = kalundborg
    fresh = rb.Runs(cfg, park, STEPS)  # no runs shared with the fixtures
    pd.testing.assert_frame_equal(rb.curve(cfg, park, "random", STEPS, 3, 0, runs=fresh), random_curve)
    pd.testing.assert_frame_equal(rb.curve(cfg, park, "degree", STEPS, runs=fresh), degree_curve)
    pd.testing.assert_frame_equal(rb.criticality(cfg, park, STEPS, runs=fresh), crit)


def test_curve_rejects_unknown_order(kalundborg):
    cfg, park = kalundborg
    with pytest.raises(ValueError, match="degree, random"):
        rb.curve(cfg, park, "betweenness", STEPS)


# ---- report, files and the command ----------------------------------------------------------

@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_render_and_write(tmp_path, crit, degree_curve, random_curve):
    curves = {"degree": degree_curve, "random": random_curve}
    text = rb.render(crit, curves)
    assert "Criticality" in text and ASNAES in text and "Aalborg Portland; Fish farm" in text
    assert "degree order" in text and "random order (mean over 3 orders" in text
    out = tmp_path / "res"
    rb.write(out, crit, curves)
    with pytest.raises(InputError, match="add --overwrite"):
        rb.write(out, crit, curves)
    rb.write(out, crit, curves, overwrite=True)  # its own folder is replaced
    assert sorted(p.name for p in out.iterdir()) == sorted(rb.FILES + (".ecopark.json",))
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = pd.read_csv(out / "curve_degree.csv")
    assert list(back["company_removed"].fillna("")) == list(degree_curve["company_removed"])
    # A folder holding other files is not swapped away.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="--out"):
        rb.write(other, crit, curves)
    assert (other / "notes.txt").read_text() == "keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


@pytest.mark.slow
def test_run_command_writes_files(tmp_path, capsys):
    out = tmp_path / "resilience"
    assert rb.run_command("kalundborg", 10, 0, 1, out) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(rb.FILES + (".ecopark.json",))
    printed = capsys.readouterr().out
    assert "Criticality" in printed and ASNAES in printed and str(out) in printed
    crit = pd.read_csv(out / "criticality.csv")
    assert len(crit) == 10
    assert set(pd.read_csv(out / "curve_random.csv")["orders"]) == {1}


def test_run_command_bad_input(tmp_path):
    with pytest.raises(InputError) as e:
        rb.run_command("kalundborg", 0, 0, 5, tmp_path / "x")
    assert len(e.value.problems) == 1 and e.value.problems[0].startswith("--steps")
    with pytest.raises(InputError) as e:
        rb.run_command("kalundborgg", 0, 0, 0, tmp_path / "x")
    text = "\n".join(e.value.problems)
    assert "--steps" in text and "--random-orders" in text and "kalundborg" in text
    assert len(e.value.problems) == 3  # every problem at once
    assert not (tmp_path / "x").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "summary.json").write_text("{}")
    with pytest.raises(InputError, match="--out .*summary.json"):  # refused before any run
        rb.run_command("kalundborg", 10, 0, 1, busy)
