"""A plain softmax policy: one free logit vector per decision, no LSTM.

This is the policy of the NAS-Bench-201 paper's reference REINFORCE (Dong & Yang 2020,
D-X-Y/AutoDL-Projects `exps/algos/reinforce.py`): each decision is an independent categorical
(softmax of its own logits), each skip decision one independent Bernoulli logit per anchor,
all initialised near zero, i.e. near-uniform first proposals. Temperature, tanh clipping and
the skip KL behave as in the LSTM policy (controller/decision_policy.py).

A decision's logits are keyed by its name. Names are stable for a given layer and parameter
in every space here (`layer2.op`, `layer3.conv.stride`), also in conditional spaces, where a
name's decision can differ only in its `allowed` mask, applied when it is asked. All the logits
exist from construction on, so that an optimizer built then sees every parameter: the decision
program is explored up front (`decision_table`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from controller.decision_policy import DecisionPolicy
from core.space import Choice, Decision, SearchSpace, SkipChoice

INIT_STD = 1e-3  # the reference's 1e-3 · randn: near-uniform, yet ties broken for argmax
MAX_EXPLORED = 100_000  # decision-program states `decision_table` visits before giving up


def decision_table(space: SearchSpace) -> dict[str, Decision]:
    """Every decision `space` can ask, by name (first seen), found by exploring its program.

    The exploration tries every legal answer of each choice (and, for skips, none and each
    single anchor), but continues from a decision only the first time it meets it: a decision
    met again, equal in every field, is taken to ask the same questions afterwards. That holds
    for the spaces here (static ones ask the same decisions on every path; in the layers space
    what follows a decision depends on its layer, type and mask, all in the decision). A name
    that appears with a different number of options or anchors is refused.
    """
    table: dict[str, Decision] = {}
    seen: set[Decision] = set()
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        decision = space.next_decision(prefix)
        if decision is None or decision in seen:
            continue
        if len(seen) >= MAX_EXPLORED:
            raise ValueError(
                f"{space.name}: more than {MAX_EXPLORED} distinct decisions; "
                "too many for a per-decision softmax policy"
            )
        seen.add(decision)
        _add(table, decision)
        # Reversed so that the first answer is explored first: for a static space the table
        # then lists the decisions in the order they are asked.
        stack.extend(prefix + answer for answer in reversed(_probe_answers(decision)))
    return table


def _add(table: dict[str, Decision], decision: Decision) -> None:
    known = table.setdefault(decision.name, decision)
    if type(known) is not type(decision) or logit_count(known) != logit_count(decision):
        raise ValueError(
            f"decision {decision.name} is asked with {logit_count(known)} and with "
            f"{logit_count(decision)} outcomes; a softmax policy keys its logits by decision name"
        )


def logit_count(decision: Decision) -> int:
    """The number of logits a decision needs: one per option, or one per anchor."""
    return len(decision.options) if isinstance(decision, Choice) else decision.num_anchors


def _probe_answers(decision: Decision) -> list[list[int]]:
    if isinstance(decision, Choice):
        return [[t] for t in decision.allowed_tokens()]
    # All 2^anchors answers are too many to try: no skip, and each single skip.
    n = decision.num_anchors
    return [[0] * n, *([int(i == j) for i in range(n)] for j in range(n))]


class SoftmaxPolicy(DecisionPolicy):
    """Independent per-decision softmaxes (and Bernoulli skips), keyed by decision name."""

    def __init__(self, space: SearchSpace, **shaping: Any) -> None:
        # `shaping`: temperature, tanh_constant, skip_target, skip_kl_average (DecisionPolicy).
        super().__init__(space, **shaping)
        table = decision_table(space)
        # A ParameterList with a name → index map, because decision names contain dots,
        # which nn.ParameterDict keys may not.
        self.index = {name: i for i, name in enumerate(table)}
        self.logits = nn.ParameterList(
            nn.Parameter(INIT_STD * torch.randn(logit_count(d))) for d in table.values()
        )

    def decision_logits(self, name: str) -> torch.Tensor:
        """The raw logits of the decision called `name` (before temperature and clipping)."""
        try:
            return self.logits[self.index[name]]
        except KeyError:
            raise ValueError(
                f"{self.space.name}: decision {name} was not found when the policy explored "
                "the space at construction"
            ) from None

    def _begin(self, rows: int) -> None:
        return None  # no state: each decision's distribution stands alone

    def _read(self, ctx: Any) -> None:
        return None

    def _choice_log_probs(self, decision: Choice, h: Any) -> torch.Tensor:
        return self._masked_log_softmax(decision, self.decision_logits(decision.name)[None])

    def _skip_logits(self, decision: SkipChoice, h: Any, ctx: Any) -> torch.Tensor:
        return self._shape(self.decision_logits(decision.name)[None])

    def _answered(self, decision: Decision, answer: torch.Tensor, h: Any, ctx: Any) -> None:
        pass
