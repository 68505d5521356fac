"""Validation against history: Kalundborg from no links with 1970-1995 prices."""

from __future__ import annotations

import json

import pytest

from experiments import history
from experiments.problems import InputError
from tests.conftest import run_cli


def test_the_history_file_loads_with_its_price_index():
    h = history.load("kalundborg")
    assert (h.start_year, h.end_year) == (1970, 1995)
    assert h.index[1995] == pytest.approx(1.0)
    # The real oil price quadrupled from 1970 to 1980 and fell back by 1986.
    assert h.index[1980] > 3 * h.index[1970] and h.index[1986] < h.index[1980] / 2
    assert len(h.links) == 14
    before, after = h.scenario_in(1992), h.scenario_in(1993)
    asnaes = lambda park: next(c for c in park.companies if c.name == "Asnaes power station")  # noqa: E731
    assert "gypsum" not in asnaes(before).processes[0].byproducts
    assert "gypsum" in asnaes(after).processes[0].byproducts
    assert before.pipelines == ()
    assert before.resources["steam"].virgin_price == pytest.approx(
        h.scenario.resources["steam"].virgin_price * h.index[1992])


def test_a_bad_history_file_names_the_key_and_the_fix(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[history]\nscenario = "kalundborg"\nstart_year = 1970\nend_year = 1971\nbase_year = 1971\n'
        '[[links]]\nyear = 1972\nfrom = "Statoil refinary"\nto = "Gyproc"\nresource = "refinery_gas"\n')
    with pytest.raises(InputError) as e:
        history.load(str(bad))
    text = "\n".join(e.value.problems)
    assert "bad.toml" in text and "links[0].from" in text and "Statoil refinery" in text
    r = run_cli("history", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_kalundborg_forms_its_historical_links_with_the_power_station_as_hub(tmp_path):
    """The issue's goal: from no links, at least 60 % of the historical links among the
    modelled companies form, and Asnaes ends with the highest degree."""
    r = run_cli("history", "--out", str(tmp_path / "h"))
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "h" / "history.json").read_text())
    assert out["share_formed"] >= 0.6
    assert out["hub"] == "Asnaes power station"
    degree = out["degree"]
    assert degree["Asnaes power station"] > max(d for n, d in degree.items() if n != "Asnaes power station")
    # Links form only once their by-product exists.
    years = {(t["from"], t["resource"]): t["model_year"] for t in out["historical_links"]}
    assert years[("Asnaes power station", "gypsum")] >= 1993
    assert years[("Statoil refinery", "sulphur")] >= 1990
