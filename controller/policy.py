"""The LSTM policy: samples a search space's decisions token by token, or re-scores them.

At each step the LSTM reads the embedding of the previous answer (a learned start token first)
and a per-kind softmax head scores the next decision. Logits go through a temperature and
`tanh_constant · tanh(·)` clipping (ENAS). Skip decisions use Zoph & Le's anchor points: the
LSTM output at the end of each layer is an anchor, and layer i connects to layer j with
probability `sigmoid(vᵀ tanh(W_prev h_j + W_curr h_i))`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.space import Choice, SearchSpace, SkipChoice


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


class LSTMPolicy(nn.Module):
    """A stacked LSTM with one softmax head per kind of decision and anchor-point attention."""

    def __init__(
        self,
        space: SearchSpace,
        hidden_size: int = 64,
        num_layers: int = 1,
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
        heads = space.heads()
        self.start = nn.Parameter(torch.empty(1, hidden_size))
        # LSTMCells rather than nn.LSTM: one step at a time is several times faster this way.
        self.cells = nn.ModuleList(nn.LSTMCell(hidden_size, hidden_size) for _ in range(num_layers))
        self.embed = nn.ModuleDict({h: nn.Embedding(n, hidden_size) for h, n in heads.items()})
        self.heads = nn.ModuleDict({h: nn.Linear(hidden_size, n) for h, n in heads.items()})
        if space.uses_skips:
            self.w_prev = nn.Linear(hidden_size, hidden_size, bias=False)
            self.w_curr = nn.Linear(hidden_size, hidden_size, bias=False)
            self.v_attn = nn.Linear(hidden_size, 1, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)  # ENAS's init: near-uniform first proposals

    def _shape(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits / self.temperature
        if self.tanh_constant > 0:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

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
        inputs = self.start.expand(rows, -1)
        zeros = torch.zeros(rows, self.start.shape[1])
        state = [(zeros, zeros) for _ in self.cells]
        anchors: list[torch.Tensor] = []  # LSTM outputs at the end of each layer, (rows, hidden)
        anchor_keys: list[torch.Tensor] = []  # W_prev h_j, computed once per anchor
        skip_decisions = 0
        while (decision := self.space.next_decision(chosen[0])) is not None:
            h = self._step(inputs, state)  # (rows, hidden)
            pos = len(chosen[0])
            given = None
            if tokens is not None:
                given = torch.tensor([list(t[pos : pos + decision.size]) for t in tokens])
            if isinstance(decision, Choice):
                log_p = self._choice_log_probs(decision, h)  # (rows, options)
                token = self._pick_choice(log_p, given, generator, greedy)  # (rows,)
                inputs = self.embed[decision.head](token)
                log_prob = log_prob + log_p.gather(1, token[:, None]).squeeze(1)
                entropy = entropy + _categorical_entropy(log_p)
                answers = token[:, None]
            else:
                logits = self._skip_logits(decision, h, anchor_keys)  # (rows, anchors)
                bits = self._pick_skips(logits, given, generator, greedy)
                chosen_anchors = torch.stack(anchors[: decision.num_anchors], dim=1)
                # Next input: the mean of the chosen anchors (zero when none is chosen).
                inputs = (bits.unsqueeze(1) @ chosen_anchors).squeeze(1)
                inputs = inputs / (1.0 + bits.sum(dim=1, keepdim=True))
                log_prob = log_prob - F.binary_cross_entropy_with_logits(
                    logits, bits, reduction="none"
                ).sum(dim=1)
                entropy = entropy + _bernoulli_entropy(logits)
                skip_kl = skip_kl + self._skip_kl(torch.sigmoid(logits))
                skip_decisions += 1
                answers = bits.long()
            for row, answer in zip(chosen, answers.tolist(), strict=True):
                row.extend(answer)
            if decision.ends_layer and self.space.uses_skips:
                anchors.append(h)
                anchor_keys.append(self.w_prev(h))
        if tokens is not None and any(
            len(c) != len(t) for c, t in zip(chosen, tokens, strict=True)
        ):
            raise ValueError("tokens left over after re-scoring: they do not fit the space")
        if self.skip_kl_average and skip_decisions:
            skip_kl = skip_kl / skip_decisions  # ENAS averages the penalty over layers
        return Rollout(chosen, log_prob, entropy, skip_kl)

    def _step(self, inputs: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]):
        for k, cell in enumerate(self.cells):
            state[k] = cell(inputs, state[k])
            inputs = state[k][0]
        return inputs

    def _choice_log_probs(self, decision: Choice, h: torch.Tensor) -> torch.Tensor:
        logits = self._shape(self.heads[decision.head](h))
        if decision.allowed is not None:
            mask = torch.tensor(decision.allowed, dtype=torch.bool)
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(logits, dim=1)

    def _skip_logits(
        self, decision: SkipChoice, h: torch.Tensor, anchor_keys: list[torch.Tensor]
    ) -> torch.Tensor:
        keys = torch.stack(anchor_keys[: decision.num_anchors], dim=1)  # (rows, anchors, hidden)
        scores = self.v_attn(torch.tanh(keys + self.w_curr(h).unsqueeze(1))).squeeze(2)
        return self._shape(scores)

    @staticmethod
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

    @staticmethod
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

    def _skip_kl(self, probs: torch.Tensor) -> torch.Tensor:
        """KL(Bernoulli(p) ‖ Bernoulli(skip_target)), summed over anchors, per row."""
        p = probs.clamp(1e-6, 1 - 1e-6)
        q = self.skip_target
        return (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).sum(dim=1)


def _categorical_entropy(log_p: torch.Tensor) -> torch.Tensor:
    # Masked options have log p = -inf and p = 0; they contribute nothing.
    p = log_p.exp()
    return -(p * log_p.masked_fill(p == 0, 0.0)).sum(dim=1)


def _bernoulli_entropy(logits: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    return (F.softplus(logits) - p * logits).sum(dim=1)
