"""The default park against the published Kalundborg figures of its file: the calibrations are
reproduced (by construction), and the checks (flows that follow from the fuel, not from the
figures) fall within their tolerance."""

import pytest

from experiments import runner


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 5])
def test_kalundborg_year_reproduces_each_published_figure(seed):
    cfg, park = runner.resolve("kalundborg", 365, seed, {})
    assert len(park.targets) >= 8
    summary = runner.simulate(cfg, park).summary
    off = [(t["label"], t["published"], round(t["modelled"]), f"{t['deviation']:+.1%}")
           for t in summary["targets"] if abs(t["deviation"]) > t["tolerance"]]
    assert off == []
    roles = {t["label"]: t["role"] for t in summary["targets"]}
    assert roles["FGD gypsum Asnaes -> Gyproc"] == roles["fly ash Asnaes -> cement"] == "check"
    # A calibration is reproduced by construction: far closer than any check.
    assert all(abs(t["deviation"]) < 0.02 for t in summary["targets"] if t["role"] == "calibration")


def test_kalundborg_has_the_named_companies_and_exchanges():
    from experiments import scenario_io

    park = scenario_io.load("kalundborg")
    sectors = {c.sector for c in park.companies}
    assert len(park.companies) >= 10
    for r in ("steam", "district_heat", "waste_heat", "gypsum", "fly_ash", "sulphur", "biomass_sludge",
              "yeast", "refinery_gas"):
        assert r in park.resources
    assert {"energy", "refining", "pharma", "utility", "cement"} <= sectors


def test_chemelot_says_it_is_stylised():
    from experiments import scenario_io

    assert "stylised" in scenario_io.load("chemelot").description.lower()
