"""Regularized (aging) evolution, Real et al. 2019."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from controller.base import ControllerDef
from controller.config import EvolutionControllerConfig
from core.architecture import Architecture
from core.space import SearchSpace


class RegularizedEvolution:
    """Keeps the `population` most recent children; a child is a mutation of a tournament winner.

    The first `population` proposals are random. Afterwards each proposal samples
    `sample_size` members (with replacement, as Real et al.'s Algorithm 1 and the NAS-Bench-201
    code do, unless `tournament="without_replacement"`), takes the one with the highest reward
    (the first drawn among equals) and changes one of its decisions (`mutation`: any decision
    equally likely, or a group of decisions first). `learn` adds the new children and removes
    the oldest (not the worst) members.
    Proposals are counted, not members, so a search that proposes ahead of learning (a
    pipeline) still starts from exactly `population` random children, as asynchronous
    evolution does (Real et al. 2019); with no member learned yet, a proposal is random too.
    """

    def __init__(self, space: SearchSpace, cfg: EvolutionControllerConfig, seed: int) -> None:
        self.space = space
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.population: deque[tuple[Architecture, float]] = deque()
        self.proposed = 0

    def propose(self, n: int) -> list[Architecture]:
        """`n` children: random while the population fills, then mutated tournament winners."""
        archs = []
        for _ in range(n):
            if self.proposed < self.cfg.population or not self.population:
                archs.append(self.space.sample(self.rng))
            else:
                grouped = self.cfg.mutation == "grouped"
                archs.append(self.space.mutate(self._tournament(), self.rng, grouped=grouped))
            self.proposed += 1
        return archs

    def _tournament(self) -> Architecture:
        """The best of `sample_size` members drawn at random (fewer without replacement)."""
        replace = self.cfg.tournament == "with_replacement"
        size = self.cfg.sample_size if replace else min(self.cfg.sample_size, len(self.population))
        picks = self.rng.choice(len(self.population), size=size, replace=replace)
        best = max(picks, key=lambda i: self.population[i][1])
        return self.population[best][0]

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Add the children to the population; the oldest members die."""
        for arch, reward in zip(archs, rewards, strict=True):
            self.population.append((arch, float(reward)))
            if len(self.population) > self.cfg.population:
                self.population.popleft()
        return {"population_mean_reward": float(np.mean([r for _, r in self.population]))}

    def favourite(self) -> Architecture | None:
        """The best member of the current population."""
        if not self.population:
            return None
        return max(self.population, key=lambda member: member[1])[0]

    def state_dict(self) -> dict[str, Any]:
        """RNG state and population (as JSON strings and rewards)."""
        return {
            "rng": self.rng.bit_generator.state,
            "population": [[a.to_json(), r] for a, r in self.population],
            "proposed": self.proposed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore RNG state and population."""
        self.rng.bit_generator.state = state["rng"]
        self.population = deque(
            (Architecture.from_json(a), float(r)) for a, r in state["population"]
        )
        # A checkpoint from before proposals were counted: every proposal had been learned.
        self.proposed = state.get("proposed", len(self.population))


CONTROLLER = ControllerDef(
    name="evolution", config=EvolutionControllerConfig, build=RegularizedEvolution
)
