"""Scenario files: the documented example loads, and malformed files get clear errors, never a
traceback."""

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import scenario_io
from experiments.problems import InputError
from tests.conftest import EXAMPLE, REPO, run_cli
from tests.strategies import mutate


def load_text(text: str):
    return scenario_io.parse(tomllib.loads(text), "park.toml")


def test_the_documented_example_is_the_tested_example():
    doc = (REPO / "docs" / "scenario-format.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text()
    park = scenario_io.read_file(EXAMPLE)
    assert [c.name for c in park.companies] == ["Power station", "Cement works", "Fish farm"]


@pytest.mark.parametrize("name", ["kalundborg", "chemelot"])
def test_builtin_scenarios_load(name):
    park = scenario_io.load(name)
    assert park.companies and park.resources


def test_a_typo_names_file_key_problem_and_nearest_name():
    text = EXAMPLE.read_text().replace("inputs = { fly_ash = 0.1 }", "inputs = { fly_ashh = 0.1 }")
    with pytest.raises(InputError) as e:
        load_text(text)
    assert e.value.problems == [
        "scenario park.toml: companies[1].processes[0].inputs: unknown resource 'fly_ashh' (did you mean 'fly_ash'?)"]


def test_every_problem_is_reported_at_once():
    text = (EXAMPLE.read_text()
            .replace("utilisation = 0.7", "utilisation = 1.7")
            .replace('transport = "truck"', 'transport = "trukc"')
            .replace('resource = "waste_heat"', 'resource = "fly_ash"')
            .replace("capacity = 3000", "capacty = 3000"))
    with pytest.raises(InputError) as e:
        load_text(text)
    msgs = "\n".join(e.value.problems)
    assert "companies[0].processes[0].utilisation: must be between 0 and 1, got 1.7" in msgs
    assert "resources.fly_ash.transport: must be one of pipeline, truck, ship, got 'trukc'" in msgs
    assert "companies[1].processes[0].capacty: unknown key (did you mean 'capacity'?)" in msgs
    assert "companies[1].processes[0].capacity: missing (required)" in msgs
    assert len(e.value.problems) >= 4


def test_pipeline_of_a_truck_resource_is_refused_with_a_fix():
    text = EXAMPLE.read_text().replace('resource = "waste_heat"\n', 'resource = "fly_ash"\n')
    with pytest.raises(InputError) as e:
        load_text(text)
    assert any("travels by truck, not pipeline" in p for p in e.value.problems)


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_bad_file_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("sector = \"cement\"", "sectr = \"cement\""))
    out = tmp_path / "out"
    r = run_cli("simulate", "--scenario", str(bad), "--out", str(out))
    assert r.returncode == 2
    assert "scenario bad.toml: companies[1].sectr: unknown key (did you mean 'sector'?)" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


# Malformed files: mutate the example's parsed tree at random and check the loader either
# accepts it or refuses it with InputError, never any other exception.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=6), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, prefix + (i,))


BASE = tomllib.loads(EXAMPLE.read_text())
ALL_PATHS = [p for p in _paths(BASE) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.one_of(SCALARS, st.just("__delete__"))), min_size=1, max_size=4))
def test_malformed_scenarios_never_end_in_a_traceback(mutations):
    tree = mutate(BASE, mutations)
    try:
        scenario_io.parse(tree, "park.toml")
    except InputError as e:
        assert e.problems and all(p.startswith("scenario park.toml: ") for p in e.problems)


def test_events_in_a_file_are_read_and_checked():
    base = EXAMPLE.read_text(encoding="utf-8")
    park = load_text(base + '\n[[events]]\ncompany = "Power station"\nat = 5\nstages = [[2, 0.0], [3, 0.5]]\n'
                            'label = "boiler fire"\n')
    (e,) = park.events
    assert (e.company, e.at, e.stages, e.label, e.announced) == ("Power station", 5, ((2, 0.0), (3, 0.5)), "boiler fire", False)
    assert [e.capacity(s) for s in (4, 5, 7, 9, 10)] == [None, 0.0, 0.5, 0.5, None]
    with pytest.raises(InputError) as bad:
        load_text(base + '\n[[events]]\ncompany = "Nobody"\nat = -1\nstages = [[0, 2.0]]\n'
                         '\n[[events]]\ncompany = "Power station"\nat = 3\n')
    text = "\n".join(bad.value.problems)
    for part in ("events[0].company", "events[0].at", "events[0].stages[0]", "events[1].duration"):
        assert part in text
