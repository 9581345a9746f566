"""Local search (White et al. 2020): hill climbing over one-decision neighbours, with restarts."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from controller.base import ControllerDef
from controller.config import LocalSearchControllerConfig
from core.architecture import Architecture
from core.space import SearchSpace

START, NEIGHBOUR = "start", "neighbour"
RANDOM_TRIES = 100  # draws for an architecture not proposed before, before taking a repeat


class LocalSearch:
    """Climbs from a random architecture to better one-decision neighbours until none is better.

    White, Nolen, Ansari and Savani (2020), "Local search is state of the art for neural
    architecture search benchmarks": start from a random architecture; evaluate its neighbours
    (`SearchSpace.neighbours`: one decision answered differently, legal answers only) in random
    order and move to the first one that is better (`first_improvement`; otherwise evaluate them
    all and move to the best if it is better); at a local optimum, restart from a random
    architecture. As in their code, an architecture is never proposed twice: a neighbour already
    evaluated is judged by its known reward at no cost.

    Proposals come from a queue, so a batch (`budget.batch`) is the next neighbours in line and a
    batch is judged in proposal order: the first better one in it is the move (the rest of the
    batch, neighbours of the old centre, are remembered and judged for free if they neighbour
    the new one); a restart is decided once the whole batch is in. When the queue is
    empty but proposals of the current neighbourhood are still out (a search that proposes ahead
    of learning), the next proposals are random architectures; they, and the random starts, are
    the candidates of the next (re)start, which takes the best of at least `restarts_from` of
    them. With one proposal per update and `restarts_from=1` this is the algorithm as published.
    """

    def __init__(self, space: SearchSpace, cfg: LocalSearchControllerConfig, seed: int) -> None:
        self.space = space
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.known: dict[Architecture, float] = {}  # every architecture learned, with its reward
        self.out: deque[tuple[Architecture, str, int]] = deque()  # proposed, not learned: tags
        self.center: tuple[Architecture, float] | None = None
        self.climb = 0  # counts centres: a neighbour belongs to the centre it was proposed for
        self.queue: deque[Architecture] = deque()  # the centre's neighbours not proposed yet
        self.waiting = 0  # the centre's neighbours proposed and not learned yet
        self.best_neighbour: tuple[Architecture, float] | None = None  # best improvement only
        self.starts: list[tuple[Architecture, float]] = []  # learned random candidates
        self.restarts = 0  # climbs started after a local optimum
        self.climbs_started = 0

    # ------------------------------------------------------------------ proposing

    def propose(self, n: int) -> list[Architecture]:
        """The next `n` neighbours of the centre in line, or random architectures."""
        archs = []
        for _ in range(n):
            if self.center is not None and self.queue:
                arch = self.queue.popleft()
                self.out.append((arch, NEIGHBOUR, self.climb))
                self.waiting += 1
            else:
                arch = self._random_unseen()
                self.out.append((arch, START, -1))
            archs.append(arch)
        return archs

    def _seen(self, arch: Architecture) -> bool:
        return arch in self.known or any(arch == a for a, _, _ in self.out)

    def _random_unseen(self) -> Architecture:
        arch = self.space.sample(self.rng)
        for _ in range(RANDOM_TRIES):
            if not self._seen(arch):
                break
            arch = self.space.sample(self.rng)
        return arch

    # ------------------------------------------------------------------ learning

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Judge each result in proposal order: a move, a local optimum, or a start candidate."""
        moves = 0
        for arch, reward in zip(archs, rewards, strict=True):
            kind, climb = self._take_out(arch)
            self.known[arch] = float(reward)
            if kind == START:
                self.starts.append((arch, float(reward)))
            elif climb == self.climb and self.center is not None:
                self.waiting -= 1
                moves += self._judge(arch, float(reward))
            # A neighbour of an earlier centre (proposed before a move) is only remembered.
        self._settle()
        center_reward = self.center[1] if self.center is not None else float("nan")
        return {
            "center_reward": center_reward,
            "moves": float(moves),
            "restarts": float(self.restarts),
            "neighbours_left": float(len(self.queue) + self.waiting),
        }

    def _take_out(self, arch: Architecture) -> tuple[str, int]:
        """The tag of `arch`'s proposal; proposals before it were dropped by the search."""
        for i, (proposed, kind, climb) in enumerate(self.out):
            if proposed == arch:
                for _ in range(i + 1):
                    self.out.popleft()
                return kind, climb
        return START, -1  # not proposed here (a caller's own architecture): a candidate

    def _judge(self, arch: Architecture, reward: float) -> int:
        """Take in one neighbour of the centre; 1 if the search moved to it."""
        assert self.center is not None
        if self.cfg.first_improvement:
            if reward > self.center[1]:
                self._move_to(arch, reward)
                return 1
            return 0
        if self.best_neighbour is None or reward > self.best_neighbour[1]:
            self.best_neighbour = (arch, reward)
        return 0

    def _settle(self) -> None:
        """After the neighbourhood is judged: the best improvement's move, or a restart."""
        if self.center is not None and (self.queue or self.waiting):
            return
        if self.center is not None and self.best_neighbour is not None:
            arch, reward = self.best_neighbour
            if reward > self.center[1]:
                self._move_to(arch, reward)
                self._settle()  # its neighbourhood may be judged already
                return
        if len(self.starts) >= self.cfg.restarts_from:
            self.restarts += self.climbs_started > 0
            self.climbs_started += 1
            arch, reward = max(self.starts, key=lambda s: s[1])  # the first among equals
            self.starts = []
            self._move_to(arch, reward)
            self._settle()
        else:
            self.center = None  # random starts until there are enough candidates

    def _move_to(self, arch: Architecture, reward: float) -> None:
        """Make `arch` the centre; its neighbours are queued in random order.

        Neighbours already evaluated are judged at once by their known reward (first
        improvement moves on the first better one); those proposed but not learned are skipped.
        """
        self.center = (arch, reward)
        self.climb += 1
        self.waiting = 0
        self.best_neighbour = None
        neighbours = self.space.neighbours(arch, self.rng)
        order = self.rng.permutation(len(neighbours))
        self.queue = deque()
        for i in order:
            neighbour = neighbours[i]
            if neighbour in self.known:
                if self._judge(neighbour, self.known[neighbour]):
                    return  # moved on: this centre's queue is no longer wanted
            elif not self._seen(neighbour):
                self.queue.append(neighbour)

    # ------------------------------------------------------------------ the rest

    def favourite(self) -> Architecture | None:
        """The best architecture evaluated so far (the first among equals)."""
        if not self.known:
            return None
        return max(self.known, key=self.known.__getitem__)

    def state_dict(self) -> dict[str, Any]:
        """RNG, centre, queue, candidates and every learned result (architectures as JSON)."""

        def pair(p: tuple[Architecture, float] | None) -> list[Any] | None:
            return None if p is None else [p[0].to_json(), p[1]]

        return {
            "rng": self.rng.bit_generator.state,
            "known": [[a.to_json(), r] for a, r in self.known.items()],
            "out": [[a.to_json(), kind, climb] for a, kind, climb in self.out],
            "center": pair(self.center),
            "climb": self.climb,
            "queue": [a.to_json() for a in self.queue],
            "waiting": self.waiting,
            "best_neighbour": pair(self.best_neighbour),
            "starts": [pair(s) for s in self.starts],
            "restarts": self.restarts,
            "climbs_started": self.climbs_started,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""

        def pair(p: list[Any] | None) -> tuple[Architecture, float] | None:
            return None if p is None else (Architecture.from_json(p[0]), float(p[1]))

        self.rng.bit_generator.state = state["rng"]
        self.known = {Architecture.from_json(a): float(r) for a, r in state["known"]}
        self.out = deque((Architecture.from_json(a), k, int(c)) for a, k, c in state["out"])
        self.center = pair(state["center"])
        self.climb = int(state["climb"])
        self.queue = deque(Architecture.from_json(a) for a in state["queue"])
        self.waiting = int(state["waiting"])
        self.best_neighbour = pair(state["best_neighbour"])
        self.starts = [p for p in (pair(s) for s in state["starts"]) if p is not None]
        self.restarts = int(state["restarts"])
        self.climbs_started = int(state["climbs_started"])


CONTROLLER = ControllerDef(
    name="local_search", config=LocalSearchControllerConfig, build=LocalSearch
)
