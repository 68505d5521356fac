"""Price paths by calendar year (`market.paths`): the values, how scenario files write them
(`[prices]`, `[policy] carbon_tax_path`, `pass_through`), and that the model applies each
year's prices from the first step of that year."""

from __future__ import annotations

import tomllib

import pytest

from agents.model import ParkModel
from experiments import config, scenario_io
from experiments.problems import InputError
from market.paths import PriceIndex, PriceSchedule, YearPath
from market.resources import Resource
from tests.conftest import EXAMPLE, REPO

SPY = 5  # steps per year in the runs below: two years are ten steps


def example(extra: str = "", steps_per_year: int = 365) -> str:
    """The documented example with `extra` TOML appended."""
    text = EXAMPLE.read_text().replace("steps_per_year = 365", f"steps_per_year = {steps_per_year}")
    return text + "\n" + extra


def load_text(text: str):
    return scenario_io.parse(tomllib.loads(text), "park.toml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(InputError) as e:
        load_text(text)
    return e.value.problems


# ------------------------------------------------------------------ the values


def test_a_path_is_linear_between_its_years_and_holds_beyond_its_ends():
    path = YearPath(((2000, 10.0), (2010, 30.0), (2020, 20.0)))
    assert path.at(2000) == 10.0 and path.at(2005) == pytest.approx(20.0) and path.at(2015) == pytest.approx(25.0)
    assert path.at(1990) == 10.0 and path.at(2050) == 20.0
    assert (path.first_year, path.last_year) == (2000, 2020)
    assert YearPath(((1995, 7.0),)).at(1900) == YearPath(((1995, 7.0),)).at(2100) == 7.0
    with pytest.raises(ValueError):
        YearPath(((2010, 1.0), (2000, 2.0)))
    with pytest.raises(ValueError):
        YearPath(())


def test_an_index_scales_by_the_real_series_against_its_base_year():
    oil = YearPath(((1970, 2.0), (1980, 36.0), (1995, 17.0)))
    cpi = YearPath(((1970, 40.0), (1980, 80.0), (1995, 150.0)))
    index = PriceIndex("real oil", 1995, oil, cpi, resources=("steam",))
    assert index.factor(1995) == pytest.approx(1.0)
    assert index.factor(1980) == pytest.approx((36.0 / 80.0) / (17.0 / 150.0))
    assert PriceIndex("nominal", 1970, oil).factor(1980) == pytest.approx(18.0)
    steam = Resource(name="steam", unit="MWh", virgin_price=10.0, disposal_cost=0.0)
    coal = Resource(name="coal", unit="t", virgin_price=50.0, disposal_cost=0.0)
    sched = PriceSchedule(1970, {"coal": YearPath(((1970, 40.0),))}, {}, (index,))
    now = sched.resources_in(1980, {"steam": steam, "coal": coal})
    assert now["steam"].virgin_price == pytest.approx(10.0 * index.factor(1980))
    assert now["coal"].virgin_price == 40.0
    assert sched.resources_in(None, {"steam": steam})["steam"].virgin_price == 10.0


# ------------------------------------------------------------------ scenario files


PRICES = """
[prices]
start_year = 2000

[prices.resources.coal]
2001 = 80.0
2000 = 50.0                # unsorted is fine

[prices.products.cement]
2000 = 90
2010 = 100.0

[[prices.indices]]
name = "real oil"
base_year = 2000
series = { 1999 = 18.0, 2000 = 28.5, 2001 = 24.4 }
deflator = { 1999 = 166.6, 2001 = 177.1 }
resources = ["waste_heat"]
products = ["trout"]
"""


def test_every_price_key_is_read():
    park = load_text(example(PRICES + '\n[policy]\ncarbon_tax_path = { 2005 = 20.0, 2000 = 5 }\n')
                     .replace("sale_price = 90.0", "sale_price = 90.0\npass_through = 0.5"))
    s = park.prices
    assert s.start_year == 2000 and s.active
    assert s.resources["coal"].points == ((2000, 50.0), (2001, 80.0))
    assert s.products["cement"].points == ((2000, 90.0), (2010, 100.0))
    (index,) = s.indices
    assert (index.name, index.base_year) == ("real oil", 2000)
    assert (index.resources, index.products) == (("waste_heat",), ("trout",))
    assert index.deflator.at(2000) == pytest.approx((166.6 + 177.1) / 2)
    assert park.policy.carbon_tax_path.points == ((2000, 5.0), (2005, 20.0))
    assert park.policy.carbon_tax == 5.0  # the start year's, until the model applies a year
    cement = park.companies[1].processes[0]
    assert cement.pass_through == 0.5 and park.companies[0].processes[0].pass_through is None


def test_the_documented_price_example_loads_with_the_documented_example():
    doc = (REPO / "docs" / "scenario-format.md").read_text()
    block = doc.split("## Prices over the years", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    park = load_text(example(block))
    assert park.prices.start_year == 2005 and set(park.prices.resources) == {"coal"}
    assert park.prices.indices[0].resources == ("waste_heat",)
    assert park.policy.carbon_tax_path.at(2010) == pytest.approx(16.0)


def test_a_file_without_prices_has_no_paths():
    park = load_text(example())
    assert park.prices == PriceSchedule() and park.policy.carbon_tax_path is None


MISTAKES = """
[prices]
start_yaer = 2000

[prices.resources.coal]
2000 = -5.0
20x1 = 60.0
1500 = 60.0

[prices.resources.cole]
2000 = 1.0

[prices.products.steel]
2000 = 1.0

[prices.products.cement]
2000 = "ninety"
2001 = nan

[[prices.indices]]
name = "oil"
base_year = 2010
series = { 2000 = 20.0, 2005 = 0.0 }
deflator = { 2000 = 100.0, 2020 = 150.0 }
resources = ["fly_ashh"]
product = ["trout"]

[[prices.indices]]
name = "cpi only"
base_year = 1995
series = { 2000 = 20.0 }
"""


def test_every_mistake_in_prices_is_reported_at_once_with_its_key_path():
    text = (example(MISTAKES + '\n[policy]\ncarbon_tax = 10.0\ncarbon_tax_path = { 2005 = inf }\n')
            .replace("sale_price = 90.0", "sale_price = 90.0\npass_through = 2.5"))
    found = problems_of(text)
    msgs = "\n".join(found)
    expected = [
        "prices.start_yaer: unknown key (did you mean 'start_year'?)",
        "prices.start_year: missing: price paths need the calendar year of step 0",
        "prices.resources.coal.2000: must be >= 0, got -5.0",
        "prices.resources.coal.20x1: must be a year",
        "prices.resources.coal.1500: must be a year",
        "prices.resources.cole: unknown resource 'cole' (did you mean 'coal'?)",
        "prices.products.steel: unknown product 'steel'",
        "prices.products.cement.2000: must be a number, got a string",
        "prices.products.cement.2001: must be a finite number",
        "prices.indices[0].series.2005: must be > 0, got 0.0",
        "prices.indices[0].resources: unknown resource 'fly_ashh' (did you mean 'fly_ash'?)",
        "prices.indices[0].product: unknown key (did you mean 'products'?)",
        "prices.indices[1].base_year: 1995 is outside the years of the series, 2000-2000",
        "prices.indices[1]: scales nothing",
        "policy.carbon_tax_path.2005: must be a finite number",
        "policy.carbon_tax: give either carbon_tax (a constant) or carbon_tax_path (by year), not both",
        "companies[1].processes[0].pass_through: must be between 0 and 2, got 2.5",
    ]
    for e in expected:
        assert any(e in m for m in found), f"not reported: {e}\n{msgs}"
    # 2010 lies within the deflator's years; the series is invalid (a 0), so its years are not checked.
    assert "indices[0].base_year" not in msgs
    assert all(m.startswith("scenario park.toml: ") for m in found)
    assert sum("prices.start_year: missing" in m for m in found) == 1  # said once, not again for the carbon path


def test_a_base_year_outside_the_series_is_a_problem():
    text = example("""
[prices]
start_year = 2000
[[prices.indices]]
name = "oil"
base_year = 2010
series = { 2000 = 20.0, 2005 = 25.0 }
resources = ["coal"]
""")
    (msg,) = problems_of(text)
    assert "prices.indices[0].base_year: 2010 is outside the years of the series, 2000-2005" in msg


def test_a_carbon_path_needs_a_start_year():
    (msg,) = problems_of(example("[policy]\ncarbon_tax_path = { 2005 = 20.0 }\n"))
    assert "prices.start_year: missing: policy.carbon_tax_path needs the calendar year of step 0" in msg


def test_a_prices_section_of_the_wrong_shape_is_reported_not_raised():
    for bad in ('prices = 3\n', '[prices]\nstart_year = 2000\nresources = ["coal"]\n',
                '[prices]\nstart_year = 2000\n[prices.resources]\ncoal = 50.0\n',
                '[prices]\nstart_year = "2000"\n', '[prices]\nstart_year = 3000\n',
                '[prices]\nstart_year = 2000\nindices = { name = "x" }\n',
                '[prices]\nstart_year = 2000\n[prices.resources.coal]\n2000 = { a = 1 }\n',
                '[prices]\nstart_year = 2000\n[prices.resources.coal]\n'):
        assert problems_of(example(bad)), bad


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_a_bad_prices_section_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    from tests.conftest import run_cli
    bad = tmp_path / "bad.toml"
    bad.write_text(example("[prices]\n[prices.resources.coal]\n2000 = 50.0\n"))
    out = tmp_path / "out"
    r = run_cli("simulate", "--scenario", str(bad), "--steps", "2", "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "scenario bad.toml: prices.start_year: missing" in r.stderr
    assert not out.exists()


# ------------------------------------------------------------------ the model applies them


def test_a_resource_price_path_changes_prices_from_the_first_step_of_the_next_year(tmp_path):
    """Coal costs 50 in 2000 and 80 in 2001: the ledger's outside price, the power station's
    outside unit cost and (passing 80 % of that on, the energy sector's rate) its sale price
    change at step SPY, not before."""
    path = tmp_path / "park.toml"
    path.write_text(example("[prices]\nstart_year = 2000\n[prices.resources.coal]\n2000 = 50.0\n2001 = 80.0\n",
                            steps_per_year=SPY))
    cfg, park = config.resolve(str(path), 2 * SPY, 0, {})
    model = ParkModel(park, cfg.policy)
    coal, sale, cost = [], [], []
    for _ in range(2 * SPY):
        model.step()
        coal.append(model.ledger.buy_price("coal"))
        today = model.production_log.last()
        sale.append(today["price"][0])
        cost.append(today["outside_unit_cost"][0])
    assert coal == [50.0] * SPY + [80.0] * SPY
    assert model.year == 2001
    assert cost[SPY] - cost[SPY - 1] == pytest.approx(0.35 * 30.0)
    assert len(set(cost[:SPY])) == len(set(cost[SPY:])) == 1
    assert sale[SPY] - sale[SPY - 1] == pytest.approx(0.8 * 0.35 * 30.0)
    # Fly ash's outside price falls from 30 to 5: what the cement works pays the power station
    # for it falls from the first trade of 2001, and only then.
    path.write_text(example("[prices]\nstart_year = 2000\n[prices.resources.fly_ash]\n2000 = 30.0\n2001 = 5.0\n",
                            steps_per_year=SPY))
    _, park = config.resolve(str(path), 2 * SPY, 0, {})
    model = ParkModel(park, park.policy)
    model.run(2 * SPY)
    ash = {tr.step: tr.price for tr in model.trade_log if tr.resource == "fly_ash"}
    assert sorted(ash) == list(range(2 * SPY))  # traded every step
    before = {round(ash[t], 9) for t in range(SPY)}
    after = {round(ash[t], 9) for t in range(SPY, 2 * SPY)}
    assert len(before) == len(after) == 1 and max(after) < min(before)


CARBON = "[prices]\nstart_year = 2005\n[policy]\ncarbon_tax_path = { 2005 = 20.0, 2006 = 14.0 }\n"


def test_a_carbon_price_path_changes_the_carbon_price_between_years(tmp_path):
    path = tmp_path / "park.toml"
    path.write_text(example(CARBON, steps_per_year=SPY))
    cfg, park = config.resolve(str(path), 2 * SPY, 0, {})
    assert cfg.policy.carbon_tax_path is not None
    model = ParkModel(park, cfg.policy)
    seen = []
    for _ in range(2 * SPY):
        model.step()
        seen.append(model.policy.carbon_tax)
    assert seen[0] == 20.0 and seen[SPY] == 14.0
    assert seen == [20.0] * SPY + [14.0] * SPY
    assert model.ledger.buy_price("coal") == pytest.approx(50.0 + 14.0 * 2.4)


def test_a_constant_carbon_tax_for_the_run_replaces_the_scenarios_path(tmp_path):
    path = tmp_path / "park.toml"
    path.write_text(example(CARBON, steps_per_year=SPY))
    cfg, park = config.resolve(str(path), 2 * SPY, 0, {"policy.carbon_tax": 5})
    assert cfg.policy.carbon_tax == 5.0 and cfg.policy.carbon_tax_path is None
    assert park.policy.carbon_tax_path is not None  # the scenario keeps its own, the run's reference world
    model = ParkModel(park, cfg.policy)
    seen = []
    for _ in range(2 * SPY):
        model.step()
        seen.append(model.policy.carbon_tax)
    assert seen == [5.0] * (2 * SPY)


LANDFILL = "[prices]\nstart_year = 2005\n[policy]\nlandfill_tax_path = { 2005 = 0.0, 2006 = 30.0 }\n"


def test_a_landfill_tax_path_sets_the_tax_of_each_year_and_a_constant_replaces_it(tmp_path):
    """A tax introduced in a later year (Denmark's waste tax, 1987) is 0 before it."""
    path = tmp_path / "park.toml"
    path.write_text(example(LANDFILL, steps_per_year=SPY))
    cfg, park = config.resolve(str(path), 2 * SPY, 0, {})
    assert park.policy.landfill_tax_path.points == ((2005, 0.0), (2006, 30.0)) and park.policy.landfill_tax == 0.0
    model = ParkModel(park, cfg.policy)
    seen = []
    for _ in range(2 * SPY):
        model.step()
        seen.append((model.policy.landfill_tax, model.ledger.dispose_price("fly_ash")))
    assert seen == [(0.0, 25.0)] * SPY + [(30.0, 55.0)] * SPY  # gate fee 25 plus the year's tax
    cfg, _ = config.resolve(str(path), 2 * SPY, 0, {"policy.landfill_tax": 7})
    assert cfg.policy.landfill_tax == 7.0 and cfg.policy.landfill_tax_path is None
    both = example("[prices]\nstart_year = 2005\n[policy]\nlandfill_tax = 3.0\nlandfill_tax_path = { 2005 = -1 }\n")
    assert problems_of(both) == [
        "scenario park.toml: policy.landfill_tax_path.2005: must be >= 0, got -1",
        "scenario park.toml: policy.landfill_tax: give either landfill_tax (a constant) or landfill_tax_path (by year), "
        "not both: remove one"]
