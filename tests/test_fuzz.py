"""Fuzzing every input door: valid scenario files, `--set` values, sweep, scheme and market-lab files mutated
at random (wrong types, NaN and infinities, huge and negative numbers, empty and unprintable
names, missing and duplicated entries). Each either runs or is refused with an InputError (a
message, exit 2 at the command line): never another exception. The quick subset draws a few
hundred examples; the slow suite a few thousand."""

from __future__ import annotations

import copy
import math
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import config, runner, scenario_io
from experiments.problems import InputError
from tests.conftest import EXAMPLE

BASE = tomllib.loads(EXAMPLE.read_text())

NASTY = st.sampled_from([
    None, "", " ", "x", "Power station ", "Fish\x07farm", "²", "kalundborg", -1, 0, 1, 2.5, -1e9, 1e15, 1e16, 1e308,
    math.nan, math.inf, -math.inf, 10**30, True, False, [], [1, 2], ["a"], {}, {"a": 1}, [{"x": 1}], [0.0, 0.0],
])


def _paths(node, prefix=()):
    """Every place a value sits in a parsed TOML document."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PATHS = _paths(BASE)


@st.composite
def mutated(draw, base=BASE, paths=PATHS, most=3):
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, most))):
        path = draw(st.sampled_from(paths))
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            what = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
            if what == "delete":
                del parent[key]
            elif what == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                value = copy.deepcopy(draw(NASTY))  # never the same list in two places
                if value is None:
                    del parent[key]
                else:
                    parent[key] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the way there
    return doc


def _runs_or_refuses(doc):
    try:
        park = scenario_io.parse(doc, "fuzz.toml")
    except InputError as e:
        assert e.problems and all(isinstance(m, str) and m for m in e.problems)
        return False
    cfg, _ = config.resolve(str(EXAMPLE), 3, 0, {})
    runner.simulate(cfg, park, yardstick=False)  # accepted: it must run
    return True


def _fuzz_scenarios(doc):
    _runs_or_refuses(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_scenario_runs_or_is_refused_with_a_message(doc):
    _fuzz_scenarios(doc)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(most=6))
def test_many_mutated_scenarios_run_or_are_refused_with_a_message(doc):
    _fuzz_scenarios(doc)


KEYS = sorted(config.keys())
TEXT = st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "1", "0.5", "2", "1e15", "abc", "", " ", "true",
                        "false", "call", "mcafee", "²", "Asnaes power station@3:2", "Gyprok@3:2", "x@-1:0", "1e308"])


def _set_runs_or_refuses(assignments):
    try:
        sets = config.parse_sets(assignments)
        cfg, park = config.resolve(str(EXAMPLE), 3, 0, sets)
    except InputError as e:
        assert e.problems
        return
    runner.simulate(cfg, park, yardstick=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), TEXT), min_size=1, max_size=3))
def test_any_set_value_runs_or_is_refused_with_a_message(pairs):
    _set_runs_or_refuses([f"{k}={v}" for k, v in pairs])


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), TEXT), min_size=1, max_size=4))
def test_many_set_values_run_or_are_refused_with_a_message(pairs):
    _set_runs_or_refuses([f"{k}={v}" for k, v in pairs])


MARKET = {"market": {"name": "m", "floor": 0.0, "ceiling": 200.0},
          "buyers": [{"name": "b1", "values": [150.0, 120.0]}, {"values": [90.0]}],
          "sellers": [{"name": "s1", "costs": [40.0, 80.0]}, {"costs": [100.0]}]}


@settings(max_examples=120, deadline=None)
@given(mutated(base=MARKET, paths=_paths(MARKET)))
def test_a_mutated_market_file_runs_or_is_refused_with_a_message(tmp_path_factory, doc):
    import tomli_w

    from experiments import market_lab

    path = tmp_path_factory.mktemp("m") / "m.toml"
    try:
        path.write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return  # not writable as TOML (a None, say): no user can give it either
    try:
        market = market_lab.read_market(path)
    except InputError as e:
        assert e.problems
        return
    market_lab.run(1, market)


SWEEP = {"sweep": {"name": "fuzz", "design": "lhs", "samples": 3, "replicates": 2, "seed": 7},
         "base": {"scenario": str(EXAMPLE), "steps": 3, "set": {"market.mechanism": "call"}},
         "parameters": {"policy.carbon_tax": {"min": 0.0, "max": 50.0}, "market.k": [0.2, 0.8]}}
SCHEME = {"scheme": {"name": "fuzz", "description": "a tax"}, "policy": {"carbon_tax": 30.0, "information": 0.5}}


def _file_runs_or_refuses(tmp_path_factory, doc, read, check):
    import tomli_w

    path = tmp_path_factory.mktemp("f") / "f.toml"
    try:
        path.write_text(tomli_w.dumps(doc))
    except (TypeError, ValueError):
        return
    try:
        got = read(path)
    except InputError as e:
        assert e.problems
        return
    check(got)


def _sweep_check(s):
    runs = s.runs()
    assert len(runs) == s.count()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated(base=SWEEP, paths=_paths(SWEEP)))
def test_a_mutated_sweep_file_is_read_whole_or_refused_with_a_message(tmp_path_factory, doc):
    from experiments import sweep

    _file_runs_or_refuses(tmp_path_factory, doc, sweep.read, _sweep_check)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated(base=SCHEME, paths=_paths(SCHEME)))
def test_a_mutated_scheme_file_is_read_whole_or_refused_with_a_message(tmp_path_factory, doc):
    from experiments import schemes

    def check(scheme):
        config.resolve(str(EXAMPLE), 3, 0, dict(scheme.sets))  # what compare then runs

    _file_runs_or_refuses(tmp_path_factory, doc, lambda p: schemes.load(str(p)), check)
