"""Synthetic eco-industrial parks of any size, built from a library of process recipes.

`generate(size, seed)` draws `size` companies from `RECIPES` (weighted by `Recipe.weight`),
places them at random on a square map whose side grows as sqrt(size), so the density of
companies stays the same whatever the size, and lays pipes from each user of a pipeline
resource (steam, heat, water, biogas) to its nearest supplier within `PIPE_REACH_KM`.

Design decisions:

- Every number is an order of magnitude, not a calibration: each resource says where its
  prices come from, and every one is an assumption unless it names a source. A synthetic park
  is for scaling and policy experiments, not for reproducing a real park.
- Constant density keeps a company's profitable partners local: moving one unit of a truck
  resource gains virgin price + disposal cost - transport cost x km, which turns negative past
  a fixed break-even distance, so the number of profitable seller -> buyer pairs grows about
  linearly with size, and so does the work of clearing a step. Measured: about 3.5 potential
  links a company at 100 companies, 4.5 at 1,000 (pipes included, about 0.6 a company); a
  30-step run of synthetic:1000 realised about 1.7 active links a company, against about 1.75
  at Kalundborg (35 links, 20 participants) and 1-5 in other published parks
  (docs/published-data.md).
- Truck transport costs are park-scale rates set from a chosen break-even distance (`reach_km`
  below). Long-haul road freight of bulk is nearer 0.1-0.2 EUR per t and km (assumption),
  which would make gypsum or fly ash worth moving 100 km or more; then every company would be
  a potential partner of every other and clearing would grow with the square of the size.
  The park-scale rate also stands for what the linear cost model leaves out: loading,
  unloading, empty return and the cost of arranging a contract, which dominate at 5-15 km.
- Each company runs one recipe; the mix is drawn from the weights, then repaired so that every
  by-product in the park has at least one company that uses it (always reached from 10
  companies up: see `_repair_mix`).
- Randomness: one `numpy.random.default_rng(seed)`, drawn in a fixed order. Same size and seed,
  same park.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from agents.scenario import CompanySpec, PipelineSpec, ProcessSpec, Scenario
from market.resources import Mode, Resource

SPACING_KM = 3.0  # side of the map = SPACING_KM x sqrt(size): one company per 9 km2 on average
PIPE_REACH_KM = 5.0  # a user gets a pipe to its nearest supplier only this close (assumption)
PIPE_ROUTE_FACTOR = 1.2  # pipes follow roads and rights of way, not straight lines (assumption)
STORAGE_SHARE = 0.5  # chance that a company can store a storable by-product it yields
STORAGE_DAYS = (3.0, 30.0)  # a store holds this many days of output at full load
VARIABILITY = (0.02, 0.1)  # coefficient of variation of the daily load
GUARANTEE_SIZE = 10  # from this size up, every by-product in the park has a user


def _truck(name: str, unit: str, virgin: float, disposal: float, reach_km: float, *, co2_virgin: float = 0.0,
           co2_disposal: float = 0.0, shelf_life: int = 0, landfill: bool = False,
           virgin_material: bool = False) -> Resource:
    """A truck resource whose transport cost makes an exchange break even at `reach_km`."""
    return Resource(name, unit, virgin, disposal, co2_virgin=co2_virgin, co2_disposal=co2_disposal,
                    transport=Mode.TRUCK, transport_cost=round((virgin + disposal) / reach_km, 3),
                    shelf_life=shelf_life, landfill=landfill, virgin_material=virgin_material)


def _virgin(name: str, unit: str, price: float, co2: float, material: bool = True) -> Resource:
    """A raw material only bought outside: no recipe yields it, so it never moves in the park."""
    return Resource(name, unit, price, 0.0, co2_virgin=co2, virgin_material=material)


# Resources companies exchange. Prices in EUR per unit, CO2 in t per unit; all EU, 2020s, orders
# of magnitude (assumptions) unless a source is named.
EXCHANGED: tuple[Resource, ...] = (
    # Process steam. Virgin: about 0.75 MWh of gas at ~35 EUR/MWh in an own boiler (90%).
    # Disposal: vented or condensed. Pipe cost ~1 EUR/t/km: a ~1 MEUR/km pipe annualised over
    # ~100 kt a year; ~2% lost per km.
    Resource("steam", "t", 30.0, 0.0, co2_virgin=0.17, transport=Mode.PIPELINE, transport_cost=1.0,
             loss_per_km=0.02),
    # Low-temperature heat. Virgin: heat from an own gas boiler (gas ~30 EUR/MWh / 0.9).
    # Disposal: cooling tower or sea. Transmission pipe ~0.5 EUR/MWh/km, ~1% lost per km.
    Resource("waste_heat", "MWh", 35.0, 0.0, co2_virgin=0.22, transport=Mode.PIPELINE, transport_cost=0.5,
             loss_per_km=0.01),
    # Reclaimed or cooling water. Virgin: industrial fresh-water tariff, 1-3 EUR/m3.
    # Disposal: discharged under the site's permit at no extra charge.
    Resource("water", "m3", 1.5, 0.0, co2_virgin=0.0003, transport=Mode.PIPELINE, transport_cost=0.03),
    # Digester gas. Virgin: the natural gas it replaces. Disposal: flared (biogenic CO2, not counted).
    Resource("biogas", "MWh", 35.0, 0.0, co2_virgin=0.2, transport=Mode.PIPELINE, transport_cost=0.3),
    # Coal fly ash. Virgin: the clinker and cement substitute it replaces, 20-40 EUR/t.
    # Disposal: EU landfill gate fees for inert waste, 20-60 EUR/t.
    _truck("fly_ash", "t", 30.0, 30.0, 12.0, co2_virgin=0.5, shelf_life=365, landfill=True,
           virgin_material=True),
    # FGD gypsum. Virgin: mined natural gypsum, 10-20 EUR/t. Disposal: landfill gate fee.
    _truck("gypsum", "t", 15.0, 25.0, 12.0, co2_virgin=0.01, shelf_life=365, landfill=True,
           virgin_material=True),
    # Steel slag and incinerator bottom ash. Virgin: aggregate or slag cement it replaces,
    # 15-30 EUR/t. Disposal: landfill gate fee, lower for inert slag.
    _truck("slag", "t", 25.0, 15.0, 12.0, co2_virgin=0.4, shelf_life=365, landfill=True, virgin_material=True),
    # Wet sludge (~25% dry matter). Virgin: nutrient value as fertiliser, a few EUR/t.
    # Disposal: incineration or landfill of wet sludge, 30-60 EUR/t.
    _truck("sludge", "t", 5.0, 45.0, 8.0, co2_virgin=0.02, co2_disposal=0.05, shelf_life=14, landfill=True),
    # Food and fermentation residue. Virgin: silage it replaces as digester feed, ~10 EUR/t wet.
    # Disposal: composting or biogas gate fees, 20-50 EUR/t.
    _truck("organic_waste", "t", 10.0, 35.0, 8.0, co2_virgin=0.02, co2_disposal=0.1, shelf_life=7),
    # Manure. Virgin: nutrient and gas value, a few EUR/t. Disposal: storage and spreading, ~4 EUR/t.
    _truck("manure", "t", 3.0, 4.0, 8.0, co2_virgin=0.01, co2_disposal=0.03, shelf_life=60),
    # Digestate. Virgin: fertiliser nutrient equivalent, 5-8 EUR/t. Disposal: spreading, ~5 EUR/t.
    _truck("digestate", "t", 6.0, 5.0, 8.0, co2_virgin=0.02, co2_disposal=0.01, shelf_life=120),
    # Purified CO2. Virgin: merchant liquid CO2 delivered, 50-150 EUR/t, made by burning gas in
    # greenhouses that buy none. Disposal: vented; the CO2 would reach the air after use anyway.
    _truck("co2", "t", 80.0, 0.0, 15.0, co2_virgin=1.0, shelf_life=30),
    # Bark, sawdust, straw as fuel. Virgin: wood chips at ~20 EUR/MWh x ~2.5 MWh/t.
    # Disposal negative: a trader outside pays a little for it.
    _truck("wood_chips", "t", 50.0, -10.0, 10.0, co2_virgin=0.02, shelf_life=180),
    # Refinery sulphur. Virgin: elemental sulphur, 80-200 EUR/t. Disposal negative: sold outside.
    _truck("sulphur", "t", 120.0, -60.0, 20.0, co2_virgin=0.1, shelf_life=365),
    # Wet feed (spent grain, whey, yeast, stillage; ~25% dry matter). Virgin: compound feed
    # ~200 EUR/t on a dry-matter basis. Disposal: biogas or compost gate fee.
    _truck("feed_residue", "t", 50.0, 15.0, 10.0, co2_virgin=0.1, co2_disposal=0.02, shelf_life=5),
)

# Raw materials bought outside only. Prices: commodity orders of magnitude, 2020s (assumption);
# CO2: combustion or calcination of one unit where the process emits it.
VIRGIN: tuple[Resource, ...] = (
    _virgin("coal", "t", 110.0, 2.4),
    _virgin("natural_gas", "MWh", 35.0, 0.2),
    _virgin("crude_oil", "t", 450.0, 0.3),  # upstream and refinery fuel share, not the products' CO2
    _virgin("limestone", "t", 15.0, 0.44),  # calcination of CaCO3
    _virgin("iron_ore", "t", 110.0, 0.05),
    _virgin("roundwood", "t", 60.0, 0.02),
    _virgin("grain", "t", 200.0, 0.4),  # feed wheat; CO2 of growing it, mostly fertiliser
    _virgin("raw_milk", "t", 420.0, 1.0, material=False),  # EU farm-gate milk ~40-45 EUR/100 kg
    _virgin("phosphate_rock", "t", 150.0, 0.1),
    _virgin("fish_feed", "t", 1300.0, 1.5, material=False),
)

RESOURCES: dict[str, Resource] = {r.name: r for r in EXCHANGED + VIRGIN}


@dataclass(frozen=True, slots=True)
class Recipe:
    """An archetype of company: one process, its range of size, and how often it appears.

    Quantities per unit of product; capacity is product per day, drawn log-uniformly in
    `capacity`; `weight` is the relative frequency in a park.
    """

    label: str  # company names are "label k"
    key: str  # the process name
    sector: str
    product: str
    unit: str
    capacity: tuple[float, float]
    sale_price: float
    inputs: tuple[tuple[str, float], ...]
    byproducts: tuple[tuple[str, float], ...]
    weight: float
    utilisation: tuple[float, float] = (0.7, 0.95)

    def outside_cost(self) -> float:
        """EUR per unit of product with every input bought and every by-product disposed of
        outside the park (no taxes)."""
        buy = sum(q * RESOURCES[r].virgin_price for r, q in self.inputs)
        dispose = sum(q * RESOURCES[r].disposal_cost for r, q in self.byproducts)
        return buy + dispose


# Per-unit flows are stylised from typical plants (assumption) and checked against Kalundborg's
# published orders of magnitude where one exists (docs/published-data.md): a 10 GWh/day
# power station yields ~110 kt fly ash and ~70 kt gypsum a year; a 40,000 m2/day board plant
# takes ~150 kt gypsum a year.
RECIPES: tuple[Recipe, ...] = (
    Recipe("Power", "power", "energy", "electricity", "MWh", (2000, 20000), 55.0,
           (("coal", 0.3), ("wood_chips", 0.1), ("limestone", 0.01), ("water", 0.5)),
           (("fly_ash", 0.03), ("gypsum", 0.02), ("steam", 0.4), ("waste_heat", 0.8)),
           weight=3, utilisation=(0.55, 0.9)),
    Recipe("Refinery", "refining", "refining", "fuels", "t", (3000, 15000), 620.0,
           (("crude_oil", 1.05), ("steam", 0.15), ("water", 0.6)),
           (("sulphur", 0.003), ("waste_heat", 0.15)),
           weight=1, utilisation=(0.75, 0.95)),
    Recipe("Cement", "cement", "cement", "cement", "t", (1500, 8000), 110.0,
           (("limestone", 1.2), ("coal", 0.1), ("fly_ash", 0.08), ("slag", 0.08), ("gypsum", 0.04)),
           (("waste_heat", 0.1),),
           weight=2),
    Recipe("Plasterboard", "plasterboard", "construction", "plasterboard", "m2", (15000, 60000), 3.0,
           (("gypsum", 0.01), ("natural_gas", 0.02)),
           (),
           weight=2),
    Recipe("Steel", "steel", "steel", "steel", "t", (1500, 10000), 600.0,
           (("iron_ore", 1.5), ("coal", 0.7), ("limestone", 0.25), ("water", 3.0)),
           (("slag", 0.3), ("waste_heat", 1.0)),
           weight=1),
    Recipe("Paper mill", "paper", "paper", "paper", "t", (300, 2000), 650.0,
           (("roundwood", 2.2), ("steam", 3.0), ("water", 15.0)),
           (("sludge", 0.3), ("wood_chips", 0.4), ("waste_heat", 1.0)),
           weight=2),
    Recipe("Brewery", "brewing", "food", "beer", "hl", (2000, 15000), 90.0,
           (("grain", 0.018), ("water", 0.5), ("steam", 0.02)),
           (("feed_residue", 0.02), ("co2", 0.003)),
           weight=3),
    Recipe("Dairy", "dairy", "food", "dairy products", "t", (100, 1500), 650.0,
           (("raw_milk", 1.1), ("steam", 0.4), ("water", 2.0)),
           (("feed_residue", 0.3), ("sludge", 0.02), ("waste_heat", 0.3)),
           weight=3),
    Recipe("Pharma", "fermentation", "pharma", "enzymes", "t", (20, 200), 9000.0,
           (("grain", 3.0), ("steam", 15.0), ("water", 40.0)),
           (("organic_waste", 12.0), ("feed_residue", 0.5), ("co2", 1.0)),
           weight=2),
    Recipe("Ammonia", "ammonia", "chemicals", "ammonia", "t", (800, 3000), 450.0,
           (("natural_gas", 9.5), ("water", 5.0)),
           (("co2", 1.2), ("steam", 1.0), ("waste_heat", 0.5)),
           weight=1),
    Recipe("Fertiliser", "fertiliser", "chemicals", "NPK fertiliser", "t", (300, 2000), 380.0,
           (("phosphate_rock", 0.4), ("sulphur", 0.12), ("natural_gas", 1.5), ("steam", 0.5)),
           (("waste_heat", 0.3),),
           weight=1),
    Recipe("Farm", "crops", "agriculture", "crops", "t", (5, 60), 220.0,
           (("digestate", 1.5), ("sludge", 0.3), ("manure", 1.0)),
           (("wood_chips", 0.5),),
           weight=8),
    Recipe("Pig farm", "pigs", "agriculture", "pork", "t", (1, 10), 1700.0,
           (("feed_residue", 6.0), ("grain", 2.0), ("water", 10.0)),
           (("manure", 15.0),),
           weight=4),
    Recipe("Fish farm", "fish", "aquaculture", "fish", "t", (0.3, 3), 4500.0,
           (("waste_heat", 40.0), ("fish_feed", 1.2)),
           (("sludge", 0.3),),
           weight=2),
    Recipe("Greenhouse", "vegetables", "horticulture", "vegetables", "t", (5, 60), 1100.0,
           (("waste_heat", 5.0), ("co2", 0.4), ("water", 0.5)),
           (("organic_waste", 0.15),),
           weight=5),
    Recipe("Wastewater", "wastewater", "utility", "wastewater treated", "m3", (5000, 50000), 1.2,
           (("natural_gas", 0.005),),
           (("sludge", 0.003), ("water", 0.3), ("biogas", 0.003), ("waste_heat", 0.01)),
           weight=3),
    Recipe("District heating", "heat", "utility", "district heat", "MWh", (300, 4000), 65.0,
           (("waste_heat", 0.8), ("wood_chips", 0.1), ("biogas", 0.1)),
           (),
           weight=3),
    Recipe("Incinerator", "incineration", "waste", "waste incinerated", "t", (300, 2000), 90.0,
           (("limestone", 0.02),),
           (("steam", 1.5), ("waste_heat", 1.0), ("slag", 0.2)),
           weight=2),
    Recipe("Biogas", "digestion", "energy", "biomethane", "MWh", (50, 500), 80.0,
           (("organic_waste", 1.5), ("manure", 3.0), ("sludge", 0.3), ("waste_heat", 0.1)),
           (("digestate", 4.0), ("co2", 0.08)),
           weight=3),
    Recipe("Sawmill", "sawing", "wood", "sawn timber", "m3", (200, 2000), 280.0,
           (("roundwood", 2.0), ("waste_heat", 0.3)),
           (("wood_chips", 0.7),),
           weight=3),
    Recipe("Bioethanol", "ethanol", "energy", "ethanol", "t", (200, 1000), 850.0,
           (("grain", 3.0), ("steam", 3.0), ("water", 5.0)),
           (("co2", 0.95), ("feed_residue", 3.0), ("waste_heat", 0.5)),
           weight=1),
)

_INDEX = {name: k for k, name in enumerate(RESOURCES)}
_MADE = tuple(sum(1 << _INDEX[r] for r, _ in rc.byproducts) for rc in RECIPES)  # bit masks of resources
_NEEDED = tuple(sum(1 << _INDEX[r] for r, _ in rc.inputs) for rc in RECIPES)
_WEIGHTS = np.array([rc.weight for rc in RECIPES], dtype=float) / sum(rc.weight for rc in RECIPES)


def generate(size: int, seed: int) -> Scenario:
    """A synthetic park of `size` companies, the same for the same `size` and `seed`."""
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 2:
        raise ValueError(f"synthetic park: size must be an integer >= 2 (the number of companies), got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"synthetic park: seed must be an integer >= 0, got {seed!r}")
    size, seed = int(size), int(seed)
    rng = np.random.default_rng(seed)

    kinds = _repair_mix(rng.choice(len(RECIPES), size=size, p=_WEIGHTS), rng)
    side = SPACING_KM * math.sqrt(size)
    xy = np.minimum(np.round(rng.uniform(0.0, side, size=(size, 2)), 2), side)  # rounding must not leave the map
    lo = np.array([RECIPES[k].capacity[0] for k in kinds])
    hi = np.array([RECIPES[k].capacity[1] for k in kinds])
    capacity = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    u_lo = np.array([RECIPES[k].utilisation[0] for k in kinds])
    u_hi = np.array([RECIPES[k].utilisation[1] for k in kinds])
    utilisation = np.round(rng.uniform(u_lo, u_hi), 2)
    variability = np.round(rng.uniform(*VARIABILITY, size=size), 3)
    stores = rng.random((size, max(len(rc.byproducts) for rc in RECIPES) or 1))
    days = rng.uniform(*STORAGE_DAYS, size=stores.shape)

    names = _names(kinds)
    companies = []
    for c, k in enumerate(kinds):
        rc = RECIPES[k]
        cap = _round3(float(capacity[c]))
        storage = {}
        for b, (r, q) in enumerate(rc.byproducts):
            if RESOURCES[r].shelf_life > 0 and stores[c, b] < STORAGE_SHARE:
                storage[r] = _round3(float(days[c, b]) * cap * q)
        process = ProcessSpec(
            name=rc.key, product=rc.product, unit=rc.unit, capacity=cap, sale_price=rc.sale_price,
            inputs=dict(rc.inputs), byproducts=dict(rc.byproducts),
            utilisation=float(utilisation[c]), variability=float(variability[c]))
        companies.append(CompanySpec(names[c], rc.sector, (float(xy[c, 0]), float(xy[c, 1])), (process,), storage))

    pipelines = _pipelines(kinds, xy, names)
    used = {r for rc in {RECIPES[k] for k in kinds} for r, _ in rc.inputs + rc.byproducts}
    return Scenario(
        name=f"synthetic:{size}",
        description=(f"Synthetic park generated by experiments.synthetic: {size} companies drawn from "
                     f"{len(RECIPES)} recipes, seed {seed}. Stylised orders of magnitude, not calibrated."),
        resources={name: r for name, r in RESOURCES.items() if name in used},
        companies=tuple(companies),
        pipelines=pipelines,
        origin=f"synthetic:{size}:{seed}",
    )


def _orphans(counts: list[int]) -> int:
    """Bit mask of resources that some recipe present yields and none present uses."""
    made = used = 0
    for k, c in enumerate(counts):
        if c:
            made |= _MADE[k]
            used |= _NEEDED[k]
    return made & ~used


def _closure(counts: list[int], bit: int) -> list[int]:
    """Recipes to add so that resource `bit` and whatever they yield in turn find a user.

    Each step adds the user of the first orphan that leaves the fewest new orphans (then the
    most common recipe). Every chain ends: district heating and plasterboard yield nothing.
    """
    trial = list(counts)
    adds: list[int] = []
    others = _orphans(counts) & ~(1 << bit)  # left to their own plans
    orphans = 1 << bit
    while orphans and len(adds) < len(RECIPES):
        b = (orphans & -orphans).bit_length() - 1
        users = [k for k in range(len(RECIPES)) if _NEEDED[k] >> b & 1]

        def after(k: int) -> tuple[int, float]:
            trial[k] += 1
            left = _orphans(trial)
            trial[k] -= 1
            return _popcount(left), -RECIPES[k].weight

        k = min(users, key=after)
        trial[k] += 1
        adds.append(k)
        orphans = _orphans(trial) & ~others
    return adds


def _plans(counts: list[int]) -> list[list[tuple[int, int]]]:
    """Candidate changes of the mix, each a list of (recipe taken, recipe given) swaps."""
    n = len(RECIPES)
    plans = [[(a, b)] for a in range(n) if counts[a] for b in range(n) if b != a]
    orphans = _orphans(counts)
    while orphans:
        bit = (orphans & -orphans).bit_length() - 1
        orphans &= orphans - 1
        adds = _closure(counts, bit)
        trial = list(counts)
        for k in adds:
            trial[k] += 1
        swaps = []
        for b in adds:
            # Take from a recipe present twice or more (the park keeps every recipe it had);
            # failing that, from the one whose loss leaves the fewest orphans.
            pool = [a for a in range(n) if trial[a] and a not in adds]
            if not pool:
                break
            dup = [a for a in pool if trial[a] >= 2]
            if dup:
                a = max(dup, key=lambda k: trial[k])
            else:
                def loss(k: int, trial: list[int] = trial) -> int:  # this pass's trial, bound now
                    trial[k] -= 1
                    left = _popcount(_orphans(trial))
                    trial[k] += 1
                    return left
                a = min(pool, key=loss)
            trial[a] -= 1
            swaps.append((a, b))
        if len(swaps) == len(adds):
            plans.append(swaps)
    return plans


def _repair_mix(kinds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change companies' recipes until every by-product in the park has a user.

    Each round weighs every single swap (one company of recipe a becomes recipe b) and, for
    each by-product without a user, adding a chain of users (a sludge orphan may need a farm,
    whose straw needs a heat plant), taken from the most common recipes. It takes the plan that
    leaves the fewest orphans, then changes fewest companies, then takes from common recipes;
    ties are drawn by the weight of the recipes given. Every round strictly reduces the orphans,
    so it ends; from `GUARANTEE_SIZE` companies up it reaches none (tested), below it may not.
    """
    kinds = kinds.copy()
    counts = np.bincount(kinds, minlength=len(RECIPES)).tolist()
    while True:
        current = _popcount(_orphans(counts))
        if current == 0:
            return kinds
        scored = []
        for plan in _plans(counts):
            trial = list(counts)
            for a, b in plan:
                trial[a] -= 1
                trial[b] += 1
            scored.append(((_popcount(_orphans(trial)), len(plan), -sum(counts[a] for a, _ in plan)), plan))
        best = min(score for score, _ in scored)
        if best[0] >= current:
            return kinds
        options = [plan for score, plan in scored if score == best]
        w = np.array([math.prod(RECIPES[b].weight for _, b in plan) for plan in options], dtype=float)
        plan = options[rng.choice(len(options), p=w / w.sum())]
        for a, b in plan:
            victim = rng.choice(np.flatnonzero(kinds == a))
            kinds[victim] = b
            counts[a] -= 1
            counts[b] += 1


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


def _names(kinds: np.ndarray) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for k in kinds:
        label = RECIPES[k].label
        seen[label] = seen.get(label, 0) + 1
        out.append(f"{label} {seen[label]}")
    return out


def _pipelines(kinds: np.ndarray, xy: np.ndarray, names: list[str]) -> tuple[PipelineSpec, ...]:
    """One pipe from each user of a pipeline resource to its nearest other supplier in reach."""
    pipes = []
    for r, res in RESOURCES.items():
        if res.transport is not Mode.PIPELINE:
            continue
        bit = 1 << _INDEX[r]
        suppliers = np.flatnonzero([_MADE[k] & bit for k in kinds])
        users = np.flatnonzero([_NEEDED[k] & bit for k in kinds])
        if len(suppliers) == 0 or len(users) == 0:
            continue
        d = np.hypot(*(xy[users][:, None, :] - xy[suppliers][None, :, :]).transpose(2, 0, 1))
        d[users[:, None] == suppliers[None, :]] = np.inf
        nearest = np.argmin(d, axis=1)
        for u, s in enumerate(nearest):
            if d[u, s] <= PIPE_REACH_KM:
                length = round(max(float(d[u, s]), 0.01) * PIPE_ROUTE_FACTOR, 2)
                pipes.append(PipelineSpec(names[suppliers[s]], names[users[u]], r, length))
    return tuple(pipes)


def _round3(x: float) -> float:
    """Three significant figures: readable capacities, and no float noise in files."""
    return float(f"{x:.3g}")
