"""What every search space offers: a decision program, token coding, sampling and mutation.

A space is a *decision program*: given the tokens chosen so far it names the next decision, or
None when the architecture is complete. Static spaces always ask the same decisions; conditional
spaces ask different ones depending on earlier answers. Controllers only ever see decisions, so
a new space needs no controller code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.architecture import Architecture, ParamValue


@dataclass(frozen=True)
class Choice:
    """A categorical decision: one token in [0, len(options)), scored by softmax head `head`.

    `allowed` masks options that are illegal here (conditional spaces); `ends_layer` marks the
    last decision of a layer, whose controller state becomes that layer's anchor point.
    `group` names a set of related decisions (NAS-Bench-201: the edges into one node), for a
    mutation that picks a group first (`SearchSpace.mutate(grouped=True)`); None: its own.
    """

    name: str
    head: str
    options: tuple[ParamValue, ...]
    allowed: tuple[bool, ...] | None = None
    ends_layer: bool = False
    group: str | None = None

    @property
    def size(self) -> int:
        """Number of tokens this decision emits (always one)."""
        return 1

    def is_allowed(self, token: int) -> bool:
        """Whether `token` is a legal answer to this decision."""
        in_range = 0 <= token < len(self.options)
        return in_range and (self.allowed is None or self.allowed[token])

    def allowed_tokens(self) -> list[int]:
        """The legal answers, in option order."""
        return [t for t in range(len(self.options)) if self.is_allowed(t)]


@dataclass(frozen=True)
class SkipChoice:
    """Skip connections into one layer: one 0/1 token per earlier layer (anchor point).

    The anchors are the layers whose last decision had `ends_layer` set, in order; a skip
    decision may connect to any of them. Layer 0 has no earlier layer and so no skip decision.
    """

    name: str
    num_anchors: int
    ends_layer: bool = True
    group: str | None = None  # as Choice.group

    def __post_init__(self) -> None:
        if self.num_anchors < 1:
            raise ValueError(f"{self.name}: a skip decision needs at least one anchor")

    @property
    def size(self) -> int:
        """Number of tokens this decision emits (one bit per anchor)."""
        return self.num_anchors


Decision = Choice | SkipChoice


def outcome_labels(decision: Decision) -> list[str]:
    """A label per outcome: each option, or `from_<j>` per earlier layer j a skip may come from.

    The names of the `policy/<decision>/<outcome>` charts, whoever fills them.
    """
    if isinstance(decision, Choice):
        return [str(option) for option in decision.options]
    return [f"from_{j}" for j in range(decision.num_anchors)]


Chooser = Callable[[Decision, list[int]], list[int]]


class SearchSpace(ABC):
    """A search space: the decisions, token ↔ `Architecture` coding, random sampling, mutation."""

    name: str

    @abstractmethod
    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        """The decision that follows `tokens`, or None once they describe a whole architecture."""

    @abstractmethod
    def heads(self) -> dict[str, int]:
        """Every softmax head the decisions use, with its number of options."""

    @abstractmethod
    def decode(self, tokens: Sequence[int]) -> Architecture:
        """Turn a complete, valid token list into an `Architecture`."""

    @abstractmethod
    def encode(self, arch: Architecture) -> list[int]:
        """Turn an `Architecture` of this space back into its token list."""

    @property
    def uses_skips(self) -> bool:
        """Whether any decision is a `SkipChoice` (the controller then needs anchor attention)."""
        return False

    @property
    def static(self) -> bool:
        """Whether every architecture asks the same decisions (then they can be batched)."""
        return False

    def walk(self, tokens: Sequence[int]) -> list[tuple[Decision, list[int]]]:
        """Pair each decision with its tokens; raise ValueError if `tokens` are not a valid list."""
        pairs: list[tuple[Decision, list[int]]] = []
        pos = 0
        while (decision := self.next_decision(tokens[:pos])) is not None:
            chunk = list(tokens[pos : pos + decision.size])
            if len(chunk) < decision.size:
                raise ValueError(f"{self.name}: tokens end inside decision {decision.name}")
            _check_answer(decision, chunk)
            pairs.append((decision, chunk))
            pos += decision.size
        if pos != len(tokens):
            raise ValueError(f"{self.name}: {len(tokens) - pos} tokens left over")
        return pairs

    def build(self, choose: Chooser) -> list[int]:
        """Run the decision program, asking `choose(decision, tokens_so_far)` for each answer."""
        tokens: list[int] = []
        while (decision := self.next_decision(tokens)) is not None:
            answer = choose(decision, tokens)
            _check_answer(decision, answer)
            tokens.extend(answer)
        return tokens

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random architecture (each decision uniform over its legal answers)."""
        return self.decode(self.build(lambda d, _: _random_answer(d, rng)))

    def mutate(
        self, arch: Architecture, rng: np.random.Generator, grouped: bool = False
    ) -> Architecture:
        """Change exactly one decision of `arch`; later decisions keep their answers where legal.

        This is the mutation of regularized evolution (Real et al. 2019): every changeable
        decision is equally likely, or with `grouped` a group of decisions (`Choice.group`;
        ungrouped decisions are groups of one) is picked first, then one of its decisions: the
        NAS-Bench-201 code's node, then edge. The new answer is uniform over the other legal
        ones. In conditional spaces a changed answer can open new decisions: those are drawn
        at random.
        """
        pairs = self.walk(self.encode(arch))
        old = {d.name: answer for d, answer in pairs}
        mutable = [d for d, _ in pairs if _can_change(d)]
        if not mutable:
            return arch
        if grouped:
            groups: dict[str, list[Decision]] = {}
            for d in mutable:
                groups.setdefault(d.group if d.group is not None else f"\0{d.name}", []).append(d)
            members = list(groups.values())[rng.integers(len(groups))]
            target = members[rng.integers(len(members))]
        else:
            target = mutable[rng.integers(len(mutable))]
        answer = _changed_answer(target, old[target.name], rng)
        return self._rebuild(old, target.name, answer, rng)

    def neighbours(self, arch: Architecture, rng: np.random.Generator) -> list[Architecture]:
        """Every architecture with one decision of `arch` answered differently, each once.

        A choice's neighbours take each other legal option; a skip decision's flip one bit.
        Later decisions keep their answers where legal; decisions a change opens are drawn at
        random (`rng`). The order is the decision program's, then the options'.
        """
        pairs = self.walk(self.encode(arch))
        old = {d.name: answer for d, answer in pairs}
        out: dict[Architecture, None] = {}
        for decision, answer in pairs:
            for other in _other_answers(decision, answer):
                neighbour = self._rebuild(old, decision.name, other, rng)
                if neighbour != arch:
                    out[neighbour] = None
        return list(out)

    def _rebuild(
        self,
        old: dict[str, list[int]],
        target: str,
        answer: list[int],
        rng: np.random.Generator,
    ) -> Architecture:
        """`old`'s answers with decision `target` answered `answer` (random where none fits)."""

        def choose(decision: Decision, _: list[int]) -> list[int]:
            previous = old.get(decision.name)
            if decision.name == target:
                return answer
            if previous is not None and _is_legal(decision, previous):
                return previous
            return _random_answer(decision, rng)

        return self.decode(self.build(choose))


class StaticSearchSpace(SearchSpace):
    """A space whose decision program is one fixed sequence: every architecture answers it all.

    A subclass lists the sequence (`program`); the position of each decision in a token list,
    and so `next_decision`, follows from it.
    """

    @abstractmethod
    def program(self) -> tuple[Decision, ...]:
        """The decisions every architecture answers, in order."""

    @property
    def static(self) -> bool:
        """The same decisions for every architecture."""
        return True

    @property
    def num_tokens(self) -> int:
        """Length of every token list of this space."""
        return sum(d.size for d in self.program())

    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        """The decision at position `len(tokens)`, or None after the last one."""
        return self._offsets.get(len(tokens))

    @cached_property
    def _offsets(self) -> dict[int, Decision]:
        # Computed once: controllers ask next_decision at every step of every rollout.
        offsets, pos = {}, 0
        for decision in self.program():
            offsets[pos] = decision
            pos += decision.size
        return offsets


def _is_legal(decision: Decision, answer: list[int]) -> bool:
    if len(answer) != decision.size:
        return False
    if isinstance(decision, Choice):
        return decision.is_allowed(answer[0])
    return all(bit in (0, 1) for bit in answer)


def _check_answer(decision: Decision, answer: list[int]) -> None:
    if not _is_legal(decision, answer):
        raise ValueError(f"illegal answer {answer} to decision {decision.name}")


def _can_change(decision: Decision) -> bool:
    if isinstance(decision, Choice):
        return len(decision.allowed_tokens()) > 1
    return decision.num_anchors > 0


def _random_answer(decision: Decision, rng: np.random.Generator) -> list[int]:
    if isinstance(decision, Choice):
        legal = decision.allowed_tokens()
        return [legal[rng.integers(len(legal))]]
    return [int(b) for b in rng.integers(0, 2, size=decision.num_anchors)]


def _other_answers(decision: Decision, previous: list[int]) -> list[list[int]]:
    """Every legal answer one change away: another option, or one skip bit flipped."""
    if isinstance(decision, Choice):
        return [[t] for t in decision.allowed_tokens() if t != previous[0]]
    return [[1 - b if i == j else b for i, b in enumerate(previous)] for j in range(len(previous))]


def _changed_answer(decision: Decision, previous: list[int], rng: np.random.Generator) -> list[int]:
    if isinstance(decision, Choice):
        others = [t for t in decision.allowed_tokens() if t != previous[0]]
        return [others[rng.integers(len(others))]] if others else previous
    flipped = list(previous)
    bit = int(rng.integers(len(flipped)))
    flipped[bit] = 1 - flipped[bit]
    return flipped
