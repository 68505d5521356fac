"""Settings of how companies cooperate: contracts, pipelines, trust, search and imitation.

The policy levers a government or park operator sets (subsidies, information sharing, the
shared-vision programme) live in `market.policy.Policy`; these are the behaviour and cost
parameters of the companies themselves, addressed as `cooperation.*` keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CooperationSettings:
    """contracts: whether companies negotiate contracts and pipelines at all.
    period: steps between two negotiation (and imitation) rounds.
    deadline: rounds of a contract negotiation (alternating offers).
    pipe_fixed_eur, pipe_per_km_eur: what a new pipe costs to build, for resources that do not
    set their own (`pipe_fixed`, `pipe_per_km` in the scenario). Assumption, not calibrated:
    EUR 1 million per km is the order of magnitude of an insulated steam or heat transmission
    pipe; a scenario with better figures sets them per resource.
    pipe_lifetime_years: a pipe's technical and accounting life; its cost is charged as an
    annuity over it at `discount_rate` (a year).
    horizon_years: the longest contract a company commits to.
    commit_share: share of its average surplus (seller) or need (buyer) a company commits.
    tolerance: a delivery short of the contracted quantity by no more than this share is kept.
    trust_prior, trust_weight, trust_memory: the beta reputation of a partner
    (`market.trust`): prior mean, its weight in observations, and the forgetting factor per
    observation. min_trust: below this a company will not negotiate with a partner.
    search_rate: at information level 0, the chance per step that a searching company finds
    one more company it could trade with; search_cost_eur: what a step of search costs.
    new_relations_per_year: how many new business relations a company can take on in a
    calendar year of the run (0: no limit): a partner newly found by search, or a first
    contract or pipe for a resource with a partner (renewals do not count). Managerial
    attention limits how fast a firm can expand (Penrose 1959, The Theory of the Growth of the
    Firm, ch. 4: the "Penrose effect"); in industrial symbiosis each exchange is a bilateral
    deal that a few managers find, vet and negotiate one at a time (Ehrenfeld & Gertler 1997,
    Journal of Industrial Ecology 1(1); Chertow & Ehrenfeld 2012, Journal of Industrial
    Ecology 16(1), the "sprouting" stage). Candidates are taken in order of value, so a
    company short of attention takes its most valuable exchanges first.
    imitation: whether companies imitate more successful peers (Fermi rule) every period;
    imitation_noise: the rule's temperature K, in units of the payoff (gains from exchange per
    EUR of revenue).
    """

    contracts: bool = True
    period: int = 30
    deadline: int = 25
    pipe_fixed_eur: float = 200_000.0
    pipe_per_km_eur: float = 1_000_000.0
    pipe_lifetime_years: float = 25.0
    discount_rate: float = 0.08
    horizon_years: float = 10.0
    commit_share: float = 0.8
    tolerance: float = 0.1
    trust_prior: float = 0.8
    trust_weight: float = 5.0
    trust_memory: float = 0.98
    min_trust: float = 0.3
    search_rate: float = 0.05
    search_cost_eur: float = 500.0
    new_relations_per_year: int = 0
    imitation: bool = True
    imitation_noise: float = 0.01


CHECKS = {
    "cooperation.period": lambda v: None if v >= 1 else "must be at least 1",
    "cooperation.deadline": lambda v: None if v >= 1 else "must be at least 1",
    "cooperation.pipe_fixed_eur": lambda v: None if v >= 0 else "must be >= 0",
    "cooperation.pipe_per_km_eur": lambda v: None if v >= 0 else "must be >= 0",
    "cooperation.pipe_lifetime_years": lambda v: None if v > 0 else "must be > 0",
    "cooperation.discount_rate": lambda v: None if 0 <= v < 1 else "must be in [0, 1)",
    "cooperation.horizon_years": lambda v: None if v > 0 else "must be > 0",
    "cooperation.commit_share": lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
    "cooperation.tolerance": lambda v: None if 0 <= v < 1 else "must be in [0, 1)",
    "cooperation.trust_prior": lambda v: None if 0 < v < 1 else "must be in (0, 1)",
    "cooperation.trust_weight": lambda v: None if v > 0 else "must be > 0",
    "cooperation.trust_memory": lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
    "cooperation.min_trust": lambda v: None if 0 <= v <= 1 else "must be in [0, 1]",
    "cooperation.search_rate": lambda v: None if 0 <= v <= 1 else "must be in [0, 1]",
    "cooperation.search_cost_eur": lambda v: None if v >= 0 else "must be >= 0",
    "cooperation.new_relations_per_year": lambda v: None if 0 <= v <= 1000 else "must be between 0 (no limit) and 1000",
    "cooperation.imitation_noise": lambda v: None if v > 0 else "must be > 0",
}
