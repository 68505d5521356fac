"""Options, entrants and fixed opex in scenario and history files: each key lands in its
dataclass, every mistake is reported at once with its key path, and a bad file stops the
command line with status 2."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.scenario import EntrySpec, OptionSpec, PipelineSpec
from experiments import history, scenario_io
from experiments.problems import InputError
from tests.conftest import REPO, run_cli
from tests.strategies import mutate

HISTORY_SMALL = REPO / "tests" / "data" / "history_small.toml"

PARK = """
[scenario]
name = "options"

[prices]
start_year = 2000

[resources.coal]
unit = "t"
virgin_price = 50.0
disposal_cost = 0.0

[resources.wood_chips]
unit = "t"
virgin_price = 90.0
disposal_cost = 0.0

[resources.gypsum]
unit = "t"
virgin_price = 15.0
disposal_cost = 10.0

[resources.heat]
unit = "MWh"
virgin_price = 30.0
disposal_cost = 0.0
transport = "pipeline"

[[companies]]
name = "Station"
sector = "energy"
location = [0.0, 0.0]

[[companies.processes]]
name = "power"
product = "electricity"
unit = "MWh"
capacity = 100
sale_price = 45.0
inputs = { coal = 0.35 }
byproducts = { heat = 0.05 }
fixed_opex = 1.5e6

[[companies.options]]
name = "wood"
kind = "switch"
replaces = "power"
capex = 8.0e6
fixed_opex = 0.1e6
lifetime_years = 20
lead_time_years = 2
earliest_year = 2003
mandatory_from = 2008

[companies.options.process]
name = "power on wood"
product = "electricity"
unit = "MWh"
capacity = 90
sale_price = 45.0
inputs = { wood_chips = 0.95 }
fixed_opex = 1.6e6

[[companies.options]]
name = "gypsum dryer"
kind = "process"
capex = 2.0e6
pipelines = [{ partner = "Greenhouse", resource = "heat", direction = "out", length_km = 1.5 }]

[companies.options.process]
name = "dry gypsum"
product = "plaster"
unit = "t"
capacity = 5
sale_price = 80.0
inputs = { gypsum = 1.1 }

[[companies]]
name = "Works"
sector = "construction"
location = [3.0, 0.0]

[[companies.processes]]
name = "boards"
product = "plasterboard"
unit = "t"
capacity = 10
sale_price = 120.0
byproducts = { gypsum = 0.1 }

[[entrants]]
name = "Greenhouse"
sector = "horticulture"
location = [1.0, 1.0]
capex = 3.0e6
fixed_opex = 0.2e6
lifetime_years = 15
lead_time_years = 0.5
earliest_year = 2002
pipelines = [{ partner = "Station", resource = "heat" }]

[[entrants.processes]]
name = "tomatoes"
product = "tomatoes"
unit = "t"
capacity = 2
sale_price = 900.0
inputs = { heat = 2.0 }
"""


def load_text(text: str):
    return scenario_io.parse(tomllib.loads(text), "park.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as e:
        load_text(text)
    return e.value.problems


def test_every_key_is_read_into_the_scenario():
    park = load_text(PARK)
    assert [c.name for c in park.companies] == ["Station", "Works", "Greenhouse"]
    station, works, greenhouse = park.companies
    assert [(p.name, p.option, p.fixed_opex) for p in station.processes] == [
        ("power", "", 1.5e6), ("power on wood", "wood", 1.6e6), ("dry gypsum", "gypsum dryer", 0.0)]
    assert station.processes[1].inputs == {"wood_chips": 0.95}
    wood, dryer = station.options
    assert wood == OptionSpec("wood", "switch", "power on wood", 8.0e6, 0.1e6, 20.0, 2.0, "power", 2003, 2008, ())
    assert dryer == OptionSpec("gypsum dryer", "process", "dry gypsum", 2.0e6, 0.0, 25.0, 1.0, "", None, None,
                               (PipelineSpec("Station", "Greenhouse", "heat", 1.5),))
    assert works.options == () and works.entry is None and station.entry is None
    assert greenhouse.entry == EntrySpec(3.0e6, 0.2e6, 15.0, 0.5, 2002,
                                         (PipelineSpec("Station", "Greenhouse", "heat"),))
    assert greenhouse.processes[0].option == ""


def test_entrants_follow_every_company_and_may_be_named_anywhere():
    text = PARK + (
        '\n[[companies]]\nname = "Quarry"\nsector = "mining"\nlocation = [9.0, 0.0]\n'
        '[[companies.processes]]\nname = "stone"\nproduct = "stone"\nunit = "t"\ncapacity = 5\nsale_price = 10.0\n'
        '\n[[pipelines]]\nfrom = "Station"\nto = "Greenhouse"\nresource = "heat"\n'
        '\n[[targets]]\nmetric = "output"\ncompany = "Greenhouse"\nproduct = "tomatoes"\nvalue = 700\n'
        'unit = "t/yr"\nsource = "illustrative"\nyear = "2005"\n')
    park = load_text(text)
    # (Quarry comes after the [[entrants]] in the file, and before them in the park)
    assert [(c.name, c.entry is not None) for c in park.companies] == [
        ("Station", False), ("Works", False), ("Quarry", False), ("Greenhouse", True)]
    assert park.pipelines == (PipelineSpec("Station", "Greenhouse", "heat"),)
    assert park.targets[0].company == "Greenhouse"


MISTAKES = PARK.replace('replaces = "power"', 'replaces = "powr"') \
    .replace('kind = "process"', 'kind = "proces"') \
    .replace("capex = 2.0e6", "capex = -2.0\nlifetme_years = 3") \
    .replace('direction = "out"', 'direction = "up"') \
    .replace("fixed_opex = 1.5e6", "fixed_opex = -1.0") \
    .replace("mandatory_from = 2008", "mandatory_from = 2001") \
    .replace('name = "dry gypsum"', 'name = "power"') \
    .replace('pipelines = [{ partner = "Station", resource = "heat" }]',
             'pipelines = [{ partner = "Statoin", resource = "coal" }, { partner = "Greenhouse", resource = "heat" }]')
MISTAKES += """
[[entrants.options]]
name = "extension"
kind = "switch"
capex = 1.0

[[entrants]]
name = "Station"
sector = "energy"
location = [5.0, 5.0]

[[entrants.processes]]
name = "spare"
product = "electricity"
unit = "MWh"
capacity = 1
sale_price = 40.0
"""


def test_every_mistake_is_reported_at_once_with_its_key_path():
    found = problems(MISTAKES)
    expected = [
        "companies[0].processes[0].fixed_opex: must be >= 0, got -1.0",
        "companies[0].options[0].replaces: unknown process 'powr' of this company (did you mean 'power'?)",
        "companies[0].options[0].mandatory_from: 2001 is before earliest_year 2003",
        "companies[0].options[1].kind: unknown kind 'proces'",
        "(did you mean 'process'?)",
        "companies[0].options[1].capex: must be >= 0, got -2.0",
        "companies[0].options[1].lifetme_years: unknown key (did you mean 'lifetime_years'?)",
        "companies[0].options[1].pipelines[0].direction: must be one of in, out, got 'up'",
        "companies[0].options[1].process.name: duplicate process name 'power' in this company",
        "entrants[0].pipelines[0].partner: unknown company 'Statoin' (did you mean 'Station'?)",
        "entrants[0].pipelines[0].resource: resource 'coal' travels by truck, not pipeline",
        "entrants[0].pipelines[1].partner: 'Greenhouse' is the company itself",
        "entrants[0].options[0].replaces: missing: a switch names the process it replaces, one of the "
        "company's own (tomatoes)",
        "entrants[0].options[0].process: missing (required): add a [entrants.options.process] table",
        "entrants[1].name: duplicate company name 'Station' (companies and entrants share names)",
        "entrants[1].capex: missing (required)",
    ]
    text = "\n".join(found)
    for part in expected:
        assert part in text, part
    assert all(m.startswith("scenario park.toml: ") for m in found)


def test_a_new_process_replaces_nothing_and_a_switch_replaces_a_process_from_the_start():
    text = (PARK.replace('kind = "process"', 'kind = "process"\nreplaces = "power"')
            .replace('replaces = "power"\ncapex = 8.0e6', 'replaces = "dry gypsum"\ncapex = 8.0e6'))
    text = "\n".join(problems(text))
    assert "companies[0].options[1].replaces: an option of kind \"process\" adds a process and replaces none" in text
    # (a switch of a process another option builds, further down or up, is refused with the reason)
    assert ("companies[0].options[0].replaces: process 'dry gypsum' is built by option 'gypsum dryer': a switch "
            "replaces a process in service from the start (power)") in text
    later = PARK.replace('name = "gypsum dryer"\nkind = "process"',
                         'name = "gypsum dryer"\nkind = "switch"\nreplaces = "power on wood"')
    assert any("companies[0].options[1].replaces: process 'power on wood' is built by option 'wood'" in m
               for m in problems(later))


def test_years_need_a_start_year_said_once_with_the_fix():
    text = PARK.replace("[prices]\nstart_year = 2000\n", "")
    found = problems(text)
    assert [m for m in found if "start_year" in m] == [
        "scenario park.toml: prices.start_year: missing: companies[0].options[0].earliest_year needs the calendar "
        "year of step 0, e.g. [prices] start_year = 2005 (2 more keys give a year too)"]
    assert any("earliest_year: must be a calendar year between 1800 and 2200, got 203"
               in m for m in problems(PARK.replace("earliest_year = 2003", "earliest_year = 203")))


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_a_bad_file_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(MISTAKES)
    out = tmp_path / "out"
    r = run_cli("simulate", "--scenario", str(bad), "--steps", "2", "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "scenario bad.toml: companies[0].options[0].replaces: unknown process 'powr'" in r.stderr
    assert not out.exists()


def test_the_documented_options_example_loads():
    doc = (REPO / "docs" / "scenario-format.md").read_text()
    block = doc.split("## Options and entrants", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    park = load_text(block)
    station, greenhouse = park.companies
    assert [o.name for o in station.options] == ["wood chips", "FGD"]
    fgd = station.options[1]
    assert (fgd.kind, fgd.replaces, fgd.mandatory_from) == ("switch", "power", 2008)
    fgd_process = next(p for p in station.processes if p.name == fgd.process)
    assert "limestone" in fgd_process.inputs and "gypsum" in fgd_process.byproducts
    assert greenhouse.entry.pipelines == (PipelineSpec("Power station", "Greenhouse", "waste_heat", 2.5),)


# Malformed files with options and entrants: the loader accepts them or refuses them with
# InputError, never any other exception.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 3000), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=6), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
BASE = tomllib.loads(PARK)


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = [p for p in _paths(BASE) if p and p[0] in ("companies", "entrants")]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.one_of(SCALARS, st.just("__delete__"))),
                min_size=1, max_size=4))
def test_malformed_options_never_end_in_a_traceback(mutations):
    tree = mutate(BASE, mutations)
    try:
        scenario_io.parse(tree, "park.toml")
    except InputError as e:
        assert e.problems and all(p.startswith("scenario park.toml: ") for p in e.problems)


# History files: which of the scenario's plants came later, with sources.

def test_a_history_makes_companies_entrants_and_gives_them_options():
    h = history.load(str(HISTORY_SMALL))
    names = [c.name for c in h.scenario.companies]
    # Entrants move to the end in the history file's order (Kemira first there), the rest keep theirs.
    assert names[-2:] == ["Kemira", "Fish farm"]
    plain = [c.name for c in scenario_io.load("kalundborg").companies if c.name not in ("Kemira", "Fish farm")]
    assert names[:-2] == plain
    by = {c.name: c for c in h.scenario.companies}
    assert by["Fish farm"].entry == EntrySpec(3.0e6, 0.2e6, 25.0, 1.0, 1979,
                                              (PipelineSpec("Asnaes power station", "Fish farm", "waste_heat", 0.5),))
    assert by["Kemira"].entry.lifetime_years == 30.0
    (fgd,) = by["Asnaes power station"].options
    assert (fgd.name, fgd.kind, fgd.replaces, fgd.process, fgd.mandatory_from) == (
        "FGD", "switch", "power", "power with FGD", 1993)
    built = by["Asnaes power station"].processes[-1]
    assert (built.name, built.option, built.fixed_opex) == ("power with FGD", "FGD", 30.0e6)
    (boiler,) = by["Novo Nordisk"].options
    assert boiler.kind == "process" and boiler.replaces == ""
    assert [(s.company, s.option) for s in h.sources] == [
        ("Kemira", ""), ("Fish farm", ""), ("Asnaes power station", "FGD"), ("Novo Nordisk", "steam boiler")]
    assert all(s.source.startswith("assumption:") for s in h.sources)
    # A year's scenario keeps them; the `[[available]]` mechanism is untouched.
    assert h.scenario_in(1978).companies == h.scenario.companies and h.available == ()


@pytest.mark.slow  # a whole CLI run in a subprocess; the quick subset keeps others
def test_a_bad_history_names_each_mistake_and_the_nearest_company(tmp_path):
    text = HISTORY_SMALL.read_text()
    text = (text.replace('company = "Kemira"', 'company = "Kemria"')
            .replace('company = "Novo Nordisk"', 'company = "Fish farm"')
            .replace('replaces = "power"', 'replaces = "powr"')
            .replace('source = "assumption: illustrative, for tests"\n\n[[options]]\ncompany = "Asnaes',
                     'source = " "\n\n[[options]]\ncompany = "Asnaes'))
    text += ('\n[[entrants]]\ncompany = "Fish farm"\ncapex = 1.0\nsource = "twice"\n'
             '\n[[options]]\ncompany = "Gyproc"\nname = "x"\nkind = "process"\ncapex = 1.0\n'
             '[options.process]\nname = "x"\nproduct = "x"\nunit = "t"\ncapacity = 1\nsale_price = 1.0\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(InputError) as e:
        history.load(str(bad))
    found = "\n".join(e.value.problems)
    for part in (
        "history bad.toml: entrants[0].company: unknown company 'Kemria' of scenario kalundborg "
        "(did you mean 'Kemira'?)",
        "entrants[1].source: must say where the year and the cost come from",
        "entrants[2].company: 'Fish farm' is already an entrant by entrants[1]: a company enters once",
        "options[0].replaces: unknown process 'powr' of this company (did you mean 'power'?)",
        "options[2].source: missing (required)",
    ):
        assert part in found, part
    r = run_cli("history", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
