"""What every policy over a decision program shares: the rollout loop and its statistics.

A policy walks a space's decision program (`SearchSpace.next_decision`), scores each decision,
samples or re-scores an answer, and sums log-probability, entropy and the skip KL per row. The
subclasses only say where the scores come from: `LSTMPolicy` (controller/policy.py) from an
LSTM that reads the previous answers, `SoftmaxPolicy` (controller/softmax_policy.py) from one
free logit vector per decision. Logits go through a temperature and `tanh_constant · tanh(·)`
clipping (ENAS) in both, so the settings mean the same whichever policy is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from core.space import Choice, Decision, SearchSpace, SkipChoice


@dataclass
class Rollout:
    """A batch of passes over the decisions: token lists and their statistics.

    `log_prob`, `entropy` and `skip_kl` hold one summed value per row, shape (rows,).
    """

    tokens: list[list[int]]
    log_prob: torch.Tensor
    entropy: torch.Tensor
    skip_kl: torch.Tensor

    @staticmethod
    def cat(parts: Sequence[Rollout]) -> Rollout:
        """Stack rollouts row-wise."""
        return Rollout(
            [t for p in parts for t in p.tokens],
            torch.cat([p.log_prob for p in parts]),
            torch.cat([p.entropy for p in parts]),
            torch.cat([p.skip_kl for p in parts]),
        )


class DecisionPolicy(nn.Module):
    """A distribution over a space's token lists, sampled and re-scored decision by decision.

    Subclasses implement the hooks `_begin`, `_read`, `_choice_log_probs`, `_skip_logits` and
    `_answered`; the loop, the sampling and the statistics are written once, here.
    """

    def __init__(
        self,
        space: SearchSpace,
        temperature: float = 1.0,
        tanh_constant: float = 2.5,
        skip_target: float = 0.4,
        skip_kl_average: bool = False,
    ) -> None:
        super().__init__()
        self.space = space
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.skip_target = skip_target
        self.skip_kl_average = skip_kl_average

    def sample(
        self, n: int, generator: torch.Generator | None = None, greedy: bool = False
    ) -> Rollout:
        """`n` token lists drawn from the policy (or its argmax), with their statistics."""
        if self.space.static:
            return self(n=n, generator=generator, greedy=greedy)
        return Rollout.cat([self(n=1, generator=generator, greedy=greedy) for _ in range(n)])

    def score(self, token_lists: Sequence[Sequence[int]]) -> Rollout:
        """Re-score given token lists (teacher forcing): log-probabilities with gradients."""
        if self.space.static:
            return self(tokens=token_lists)
        return Rollout.cat([self(tokens=[t]) for t in token_lists])

    def forward(
        self,
        tokens: Sequence[Sequence[int]] | None = None,
        n: int = 1,
        generator: torch.Generator | None = None,
        greedy: bool = False,
    ) -> Rollout:
        """One batched pass: sample `n` rows (`tokens` None), or re-score the rows of `tokens`.

        Every row follows the decisions of the first row, so rows of a conditional space must
        be passed one at a time (`sample` and `score` do that).
        """
        rows = len(tokens) if tokens is not None else n
        chosen: list[list[int]] = [[] for _ in range(rows)]
        log_prob, entropy, skip_kl = (torch.zeros(rows) for _ in range(3))
        ctx = self._begin(rows)
        skip_decisions = 0
        while (decision := self.space.next_decision(chosen[0])) is not None:
            h = self._read(ctx)
            pos = len(chosen[0])
            given = None
            if tokens is not None:
                given = torch.tensor([list(t[pos : pos + decision.size]) for t in tokens])
            if isinstance(decision, Choice):
                log_p = self._choice_log_probs(decision, h).expand(rows, -1)  # (rows, options)
                answer = _pick_choice(log_p, given, generator, greedy)  # (rows,)
                log_prob = log_prob + log_p.gather(1, answer[:, None]).squeeze(1)
                entropy = entropy + categorical_entropy(log_p)
                answers = answer[:, None].tolist()
            else:
                logits = self._skip_logits(decision, h, ctx).expand(rows, -1)  # (rows, anchors)
                answer = _pick_skips(logits, given, generator, greedy)
                log_prob = log_prob - F.binary_cross_entropy_with_logits(
                    logits, answer, reduction="none"
                ).sum(dim=1)
                entropy = entropy + bernoulli_entropy(logits)
                skip_kl = skip_kl + bernoulli_kl(torch.sigmoid(logits), self.skip_target)
                skip_decisions += 1
                answers = answer.long().tolist()
            self._answered(decision, answer, h, ctx)
            for row, row_answer in zip(chosen, answers, strict=True):
                row.extend(row_answer)
        if tokens is not None and any(
            len(c) != len(t) for c, t in zip(chosen, tokens, strict=True)
        ):
            raise ValueError("tokens left over after re-scoring: they do not fit the space")
        if self.skip_kl_average and skip_decisions:
            skip_kl = skip_kl / skip_decisions  # ENAS averages the penalty over layers
        return Rollout(chosen, log_prob, entropy, skip_kl)

    def _shape(self, logits: torch.Tensor) -> torch.Tensor:
        """Temperature, then `tanh_constant · tanh(·)` clipping (off when tanh_constant is 0)."""
        logits = logits / self.temperature
        if self.tanh_constant > 0:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _masked_log_softmax(self, decision: Choice, logits: torch.Tensor) -> torch.Tensor:
        """Shaped log-probabilities of a choice's options; masked options get log p = −inf."""
        logits = self._shape(logits)
        if decision.allowed is not None:
            mask = torch.tensor(decision.allowed, dtype=torch.bool)
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(logits, dim=1)

    # The hooks. `ctx` is whatever per-pass state a policy keeps; `h` what it read for the
    # decision at hand (the LSTM output; nothing for the softmax policy).

    def _begin(self, rows: int) -> Any:
        """The per-pass state for `rows` rows."""
        raise NotImplementedError

    def _read(self, ctx: Any) -> Any:
        """Advance the state to the next decision; what the scores are computed from."""
        raise NotImplementedError

    def _choice_log_probs(self, decision: Choice, h: Any) -> torch.Tensor:
        """Log-probabilities of the options, (rows, options) or (1, options) for every row."""
        raise NotImplementedError

    def _skip_logits(self, decision: SkipChoice, h: Any, ctx: Any) -> torch.Tensor:
        """Shaped skip logits, one per anchor: (rows, anchors) or (1, anchors)."""
        raise NotImplementedError

    def _answered(self, decision: Decision, answer: torch.Tensor, h: Any, ctx: Any) -> None:
        """Take in the answer: token ids (rows,) for a choice, 0/1 floats (rows, anchors)."""
        raise NotImplementedError


def _pick_choice(
    log_p: torch.Tensor,
    given: torch.Tensor | None,
    generator: torch.Generator | None,
    greedy: bool,
) -> torch.Tensor:
    if given is not None:
        return given[:, 0]
    if greedy:
        return log_p.argmax(dim=1)
    return torch.multinomial(log_p.exp(), 1, generator=generator).squeeze(1)


def _pick_skips(
    logits: torch.Tensor,
    given: torch.Tensor | None,
    generator: torch.Generator | None,
    greedy: bool,
) -> torch.Tensor:
    if given is not None:
        return given.float()
    if greedy:
        return (logits > 0).float()
    return (torch.rand(logits.shape, generator=generator) < torch.sigmoid(logits)).float()


def categorical_entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Entropy of each row's categorical distribution, from its log-probabilities."""
    # Masked options have log p = -inf and p = 0; they contribute nothing.
    p = log_p.exp()
    return -(p * log_p.masked_fill(p == 0, 0.0)).sum(dim=1)


def bernoulli_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of independent Bernoulli(sigmoid(logit)) bits, summed over each row."""
    p = torch.sigmoid(logits)
    return (F.softplus(logits) - p * logits).sum(dim=1)


def bernoulli_kl(probs: torch.Tensor, target: float) -> torch.Tensor:
    """KL(Bernoulli(p) ‖ Bernoulli(target)), summed over each row (the skip penalty)."""
    p = probs.clamp(1e-6, 1 - 1e-6)
    q = target
    return (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).sum(dim=1)
