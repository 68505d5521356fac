"""The park's transport network: where companies sit and which pipelines join them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    move between any two companies over the straight-line distance.
    """

    positions: np.ndarray
    resources: dict[str, Resource]
    pipelines: tuple[Pipeline, ...] = ()
    _pipe_index: dict[tuple[int, int, str], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[int, int, str], float] = {}
        for p in self.pipelines:
            index[(p.a, p.b, p.resource)] = p.length_km
            index[(p.b, p.a, p.resource)] = p.length_km
        object.__setattr__(self, "_pipe_index", index)

    def with_pipelines(self, extra: tuple[Pipeline, ...]) -> "Network":
        return Network(self.positions, self.resources, self.pipelines + tuple(extra))

    def distance(self, a: int, b: int) -> float:
        return float(np.hypot(*(self.positions[a] - self.positions[b])))

    def edges(self, resource: str, sellers: np.ndarray, buyers: np.ndarray) -> Edges:
        """All routes from `sellers` to `buyers` (company indices) that can carry `resource`."""
        r = self.resources[resource]
        if r.transport is Mode.PIPELINE:
            ii, jj, dd = [], [], []
            for a, s in enumerate(sellers):
                for b, t in enumerate(buyers):
                    length = self._pipe_index.get((int(s), int(t), resource))
                    if length is not None:
                        ii.append(a)
                        jj.append(b)
                        dd.append(length)
            i = np.asarray(ii, dtype=np.int64)
            j = np.asarray(jj, dtype=np.int64)
            d = np.asarray(dd, dtype=float)
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
        return Edges(i[ok], j[ok], d[ok], share[ok], cost[ok])
