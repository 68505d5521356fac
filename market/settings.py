"""Market settings of a run, and the registry of mechanisms they select."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

from market.mechanism import Mechanism


class MechanismName(str, Enum):
    CALL = "call"
    CDA = "cda"
    MCAFEE = "mcafee"
    BILATERAL = "bilateral"
    PLANNER = "planner"


class CdaRules(str, Enum):
    """The continuous double auction's order book (market.cda.ContinuousDoubleAuction.rules)."""

    PERSISTENT = "persistent"
    GODE_SUNDER = "gode_sunder"


class McAfeeConvention(str, Enum):
    """What McAfee's double auction does when there is no (k+1)-th bid or ask
    (market.mcafee.McAfee.convention): reduce trade, or fill in the price range's bounds as
    McAfee's (1992) paper does."""

    REDUCE = "reduce"
    BOUNDS = "bounds"


def _shares(mix) -> dict[str, float]:
    """A mix's shares by name, in field order."""
    return {f.name: getattr(mix, f.name) for f in dataclasses.fields(mix)}


@dataclass(frozen=True, slots=True)
class StrategyMix:
    """Shares of the companies using each bidding strategy (they must sum to 1). Companies are
    assigned at the start of a run, by the run's generator, in exactly these proportions
    (largest remainders); a company's own `strategy` in the scenario file takes precedence."""

    truthful: float = 1.0
    zic: float = 0.0
    ziu: float = 0.0
    zip: float = 0.0
    roth_erev: float = 0.0

    shares = _shares


@dataclass(frozen=True, slots=True)
class TacticMix:
    """Shares of the companies using each negotiation tactic (Faratin et al. 1998)."""

    linear: float = 1.0
    boulware: float = 0.0
    conceder: float = 0.0

    shares = _shares


@dataclass(frozen=True, slots=True)
class MarketSettings:
    """mechanism: which mechanism clears each step. k: the seller's share of a matched pair's
    gain in the call market's pricing. rounds: arrival rounds of the continuous double auction
    per step; cda_rules: its order book, "persistent" or Gode & Sunder's (1993) "gode_sunder"
    (improvement rule, book cleared after each trade). mcafee_convention: McAfee's rule when
    no (k+1)-th bid or ask exists, "reduce" or the paper's "bounds". deadline: rounds of a bilateral
    negotiation. exchanges: false runs the no-symbiosis baseline. strategies, tactics: the
    population of bidders and negotiators. units_per_order: how many equal units a company
    whose strategy learns per unit (ZIP) posts each order as, each priced with its own margin
    (agents/traders.py)."""

    mechanism: MechanismName = MechanismName.CALL
    k: float = 0.5
    rounds: int = 10
    cda_rules: CdaRules = CdaRules.PERSISTENT
    mcafee_convention: McAfeeConvention = McAfeeConvention.REDUCE
    deadline: int = 25  # Linear vs Linear agrees on 95 % of random deals from about 20 rounds
    exchanges: bool = True
    strategies: StrategyMix = field(default_factory=StrategyMix)
    tactics: TacticMix = field(default_factory=TacticMix)
    units_per_order: int = 2

    def build(self) -> Mechanism:
        m = self.mechanism
        if m is MechanismName.CALL:
            from market.call import CallMarket
            return CallMarket(k=self.k)
        if m is MechanismName.PLANNER:
            from market.planner import Planner
            return Planner()
        if m is MechanismName.CDA:
            from market.cda import ContinuousDoubleAuction
            return ContinuousDoubleAuction(rounds=self.rounds, rules=self.cda_rules.value)
        if m is MechanismName.MCAFEE:
            from market.mcafee import McAfee
            return McAfee(convention=self.mcafee_convention.value)
        if m is MechanismName.BILATERAL:
            from market.bilateral import Bilateral
            return Bilateral(deadline=self.deadline)
        raise ValueError(f"unknown mechanism {m!r}")
