"""The park's transport network: where companies sit and which pipelines join them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from market.resources import Mode, Resource


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A pipe carrying `resource` between companies `a` and `b` (indices), either way."""

    a: int
    b: int
    resource: str
    length_km: float


@dataclass(frozen=True, slots=True)
class Edges:
    """Feasible seller -> buyer routes for one resource, as parallel arrays.

    `i` and `j` index into the seller and buyer arrays the edges were built from; `share` is
    the delivered share per unit shipped and `cost` the transport cost per unit shipped.
    """

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    share: np.ndarray
    cost: np.ndarray


@dataclass(frozen=True)
class Network:
    """Positions (km) of the companies and the pipelines between them.

    Pipeline resources move only along a pipeline, over its length; truck and ship resources
    move between any two companies over the straight-line distance. With `known` set, only
    routes between companies that know each other exist.
    """

    positions: np.ndarray
    resources: dict[str, Resource]
    pipelines: tuple[Pipeline, ...] = ()
    # Which companies know each other (n x n booleans), or None when all do: a market sees
    # only routes between companies that know each other (`market.policy.Policy.information`).
    known: np.ndarray | None = field(default=None, compare=False)
    _pipes_of: dict[str, list[tuple[int, int, float]]] = field(init=False, repr=False, compare=False)
    # Routes already built, by resource and the exact sellers and buyers (see `edges`). Passed on
    # by `dataclasses.replace` (the model's copy without `known` shares it) and dropped when the
    # positions, resources or pipelines it was built from are not the ones of this network.
    _routes: dict | None = field(default=None, repr=False, compare=False)

    # Above this many seller-buyer pairs, truck routes are found with a k-d tree within the
    # largest distance at which any pair could still gain, instead of trying every pair.
    DENSE_PAIRS = 20_000
    # Route sets kept per network before they are dropped (all at once: simple and rare), by count
    # and by size: a set of a 300-company park is up to a few MB, and 512 of them grew a ten-year
    # run's memory by a seventh (tests/test_spool.py's soak).
    ROUTE_CACHE = 512
    ROUTE_CACHE_BYTES = 8_000_000

    def __post_init__(self) -> None:
        pipes: dict[str, list[tuple[int, int, float]]] = {}
        for p in self.pipelines:
            pipes.setdefault(p.resource, []).append((p.a, p.b, p.length_km))
        object.__setattr__(self, "_pipes_of", pipes)
        cache = self._routes
        if cache is None or cache.get("of") != (id(self.positions), id(self.resources), id(self.pipelines)):
            cache = {"of": (id(self.positions), id(self.resources), id(self.pipelines)),
                     "keep": (self.positions, self.resources, self.pipelines)}  # ids stay theirs while cached
            object.__setattr__(self, "_routes", cache)

    def distance(self, a: int, b: int) -> float:
        return float(np.hypot(*(self.positions[a] - self.positions[b])))

    def edges(self, resource: str, sellers: np.ndarray, buyers: np.ndarray, max_km: float = np.inf) -> Edges:
        """All routes from `sellers` to `buyers` (company indices) that can carry `resource`.

        Routes longer than `max_km` may be left out: a mechanism passes the distance beyond
        which no pair could gain, so large parks do not enumerate every pair.
        """
        found = self._all_edges(resource, sellers, buyers, max_km)
        if self.known is None:
            return found
        ok = self.known[sellers[found.i], buyers[found.j]]
        return Edges(found.i[ok], found.j[ok], found.distance[ok], found.share[ok], found.cost[ok])

    def _all_edges(self, resource: str, sellers: np.ndarray, buyers: np.ndarray, max_km: float = np.inf) -> Edges:
        """`edges` before `known` is applied."""
        r = self.resources[resource]
        near = r.transport is not Mode.PIPELINE and len(sellers) * len(buyers) > self.DENSE_PAIRS \
            and bool(np.isfinite(max_km))
        # The routes depend only on the resource, on who sells and buys (which repeat from step
        # to step) and, for those the k-d tree finds, on `max_km`: built once, kept. The routes within
        # `max_km` are kept as the book's last set, with the distance they were found within (a
        # book's reach, `market.mechanism.reach_km`, stays while its best prices do; one that
        # changes every step replaces its set instead of filling the memory). Who knows whom
        # (`known`, changed in place as companies meet) is applied after, every call; the filters
        # commute, so the routes and their order are those built from scratch.
        key: tuple = (resource, sellers.dtype.str, len(sellers), sellers.tobytes(), buyers.dtype.str, buyers.tobytes())
        if near:
            key = ("near",) + key
        cache = self._routes
        kept = cache.get(key) if cache is not None else None  # a set, or (its max_km, a set) if near
        if kept is not None and (not near or kept[0] == max_km):
            return kept[1] if near else kept
        if r.transport is Mode.PIPELINE:
            i, j, d = self._pipe_routes(resource, sellers, buyers)
        elif near:
            i, j, d = self._near_routes(sellers, buyers, max_km)
        else:
            i, j = np.meshgrid(np.arange(len(sellers)), np.arange(len(buyers)), indexing="ij")
            i, j = i.ravel(), j.ravel()
            diff = self.positions[sellers][i] - self.positions[buyers][j]
            d = np.hypot(diff[:, 0], diff[:, 1])
        keep = sellers[i] != buyers[j]
        i, j, d = i[keep], j[keep], d[keep]
        share = np.clip(1.0 - r.loss_per_km * d, 0.0, 1.0)
        cost = r.transport_cost * d
        ok = share > 0.0
        found = Edges(i[ok], j[ok], d[ok], share[ok], cost[ok])
        for a in (found.i, found.j, found.distance, found.share, found.cost):
            a.flags.writeable = False  # shared between calls
        if cache is not None:
            size = _nbytes(found) + len(key[-3]) + len(key[-1])
            if kept is not None:  # a book's routes within another reach, replaced
                cache["bytes"] -= _nbytes(kept[1]) + len(key[-3]) + len(key[-1])
            if len(cache) > self.ROUTE_CACHE or cache.get("bytes", 0) + size > self.ROUTE_CACHE_BYTES:
                _forget(cache)
            cache[key] = (max_km, found) if near else found
            cache["bytes"] = cache.get("bytes", 0) + size
        return found

    def route_lists(self, resource: str, sellers: list[int], buyers: list[int]
                    ) -> tuple[list[int], list[int], list[float], list[float], list[float]]:
        """`edges` of a small book (at most `DENSE_PAIRS` pairs) as Python lists (i, j, distance,
        share, cost): the same routes in the same order, for the mechanisms' paths that walk a
        book of a few orders in Python, where numpy's calls cost more than the work. Kept beside
        `edges`' arrays (and dropped with them); `known` is applied on every call."""
        cache = self._routes
        key = ("lists", resource, tuple(sellers), tuple(buyers))
        found = cache.get(key) if cache is not None else None
        if found is None:
            e = self._all_edges(resource, np.array(sellers, dtype=np.int64), np.array(buyers, dtype=np.int64))
            found = (e.i.tolist(), e.j.tolist(), e.distance.tolist(), e.share.tolist(), e.cost.tolist())
            self._keep(key, found)
        if self.known is None:
            return found
        known = self.known
        keep = [k for k, (a, b) in enumerate(zip(*found[:2])) if known[sellers[a], buyers[b]]]
        if len(keep) == len(found[0]):
            return found
        return tuple([col[k] for k in keep] for col in found)  # type: ignore[return-value]

    def same_place(self, companies: list[int]) -> bool:
        """Whether these companies all sit at one point (`free_routes` on a small book); kept
        beside the routes, as the books' traders repeat from step to step."""
        cache = self._routes
        key = ("place", tuple(companies))
        found = cache.get(key) if cache is not None else None
        if found is None:
            pos = self.positions[companies]
            found = bool((pos == pos[0]).all())
            self._keep(key, found)
        return found

    def _keep(self, key: tuple, value: object) -> None:
        """A small book's routes or place kept, within the cache's count (`ROUTE_CACHE`)."""
        cache = self._routes
        if cache is None:
            return
        if len(cache) > self.ROUTE_CACHE:
            _forget(cache)
        cache[key] = value

    def _pipe_routes(self, resource: str, sellers: np.ndarray, buyers: np.ndarray):
        s_pos: dict[int, list[int]] = {}
        for a, s in enumerate(sellers.tolist()):
            s_pos.setdefault(s, []).append(a)
        b_pos: dict[int, list[int]] = {}
        for b, t in enumerate(buyers.tolist()):
            b_pos.setdefault(t, []).append(b)
        ii, jj, dd = [], [], []
        for a, b, length in self._pipes_of.get(resource, ()):
            for x, y in ((a, b), (b, a)):
                for si in s_pos.get(x, ()):
                    for bj in b_pos.get(y, ()):
                        ii.append(si)
                        jj.append(bj)
                        dd.append(length)
        return np.asarray(ii, dtype=np.int64), np.asarray(jj, dtype=np.int64), np.asarray(dd, dtype=float)

    def _near_routes(self, sellers: np.ndarray, buyers: np.ndarray, max_km: float):
        ts = cKDTree(self.positions[sellers])
        tb = cKDTree(self.positions[buyers])
        pairs = ts.sparse_distance_matrix(tb, max_km, output_type="ndarray")
        i = pairs["i"].astype(np.int64)
        j = pairs["j"].astype(np.int64)
        diff = self.positions[sellers][i] - self.positions[buyers][j]
        return i, j, np.hypot(diff[:, 0], diff[:, 1])


def _nbytes(e: Edges) -> int:
    """The size of a set of routes' arrays, as `Network`'s memory of them counts it."""
    return e.i.nbytes + e.j.nbytes + e.distance.nbytes + e.share.nbytes + e.cost.nbytes


def _forget(cache: dict) -> None:
    """Every set of routes a network's cache holds dropped at once (simple, and rare), its own
    identity ("of", "keep") kept."""
    for k in [k for k in cache if k not in ("of", "keep")]:
        del cache[k]


def free_routes(network: Network, resource: str, companies: np.ndarray | list[int]) -> bool:
    """True when every pair of distinct `companies` is a route of `resource` with delivered
    share 1 and cost 0, which is what `Network.edges` returns for a truck or ship resource whose
    traders all sit in one place, or one that travels free and without loss.

    A mechanism can then rank orders by price alone, without enumerating the pairs: a market of
    100,000 co-located traders has 2.5e9 of them."""
    r = network.resources[resource]
    if r.transport is Mode.PIPELINE or network.known is not None:
        return False
    if r.transport_cost == 0 and r.loss_per_km == 0:
        return True
    if isinstance(companies, list):  # a small book's, in Python
        return network.same_place(companies)
    pos = network.positions[companies]
    return bool((pos == pos[0]).all())
