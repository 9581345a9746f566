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

from child.spaces.base import Choice, SearchSpace, SkipChoice


@dataclass
class Rollout:
    """One pass over the decisions: the tokens, their summed log-probability, entropy, skip KL."""

    tokens: list[int]
    log_prob: torch.Tensor
    entropy: torch.Tensor
    skip_kl: torch.Tensor


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
    ) -> None:
        super().__init__()
        self.space = space
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.skip_target = skip_target
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

    def forward(
        self,
        tokens: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
        greedy: bool = False,
    ) -> Rollout:
        """Sample a token list (`tokens` None), decode greedily, or re-score the given `tokens`."""
        chosen: list[int] = []
        log_prob = entropy = skip_kl = torch.zeros(())
        inputs = self.start
        state = [(torch.zeros_like(self.start), torch.zeros_like(self.start)) for _ in self.cells]
        anchors: list[torch.Tensor] = []  # LSTM outputs at the end of each layer
        anchor_keys: list[torch.Tensor] = []  # W_prev h_j, computed once per anchor
        while (decision := self.space.next_decision(chosen)) is not None:
            h = self._step(inputs, state)  # (1, hidden)
            given = None if tokens is None else tokens[len(chosen) : len(chosen) + decision.size]
            if isinstance(decision, Choice):
                log_p = self._choice_log_probs(decision, h)
                token = self._pick_choice(log_p, given, generator, greedy)
                inputs = self.embed[decision.head].weight[token].unsqueeze(0)
                chosen.append(token)
                log_prob = log_prob + log_p[token]
                entropy = entropy + _categorical_entropy(log_p)
            else:
                logits = self._skip_logits(decision, h, anchor_keys)
                bits = self._pick_skips(logits, given, generator, greedy)
                # Next input: the mean of the chosen anchors (zero when none is chosen).
                inputs = (bits @ torch.cat(anchors)).unsqueeze(0) / (1.0 + bits.sum())
                chosen.extend(int(b) for b in bits.tolist())
                log_prob = log_prob - F.binary_cross_entropy_with_logits(
                    logits, bits, reduction="sum"
                )
                entropy = entropy + _bernoulli_entropy(logits)
                skip_kl = skip_kl + self._skip_kl(torch.sigmoid(logits))
            if decision.ends_layer and self.space.uses_skips:
                anchors.append(h)
                anchor_keys.append(self.w_prev(h))
        if tokens is not None and len(chosen) != len(tokens):
            raise ValueError(f"{len(tokens) - len(chosen)} tokens left over after re-scoring")
        return Rollout(chosen, log_prob, entropy, skip_kl)

    def _step(self, inputs: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]):
        for k, cell in enumerate(self.cells):
            state[k] = cell(inputs, state[k])
            inputs = state[k][0]
        return inputs

    def _choice_log_probs(self, decision: Choice, h: torch.Tensor) -> torch.Tensor:
        logits = self._shape(self.heads[decision.head](h)[0])
        if decision.allowed is not None:
            mask = torch.tensor(decision.allowed, dtype=torch.bool)
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.log_softmax(logits, dim=0)

    def _skip_logits(
        self, decision: SkipChoice, h: torch.Tensor, anchor_keys: list[torch.Tensor]
    ) -> torch.Tensor:
        keys = torch.cat(anchor_keys[: decision.num_anchors])  # (anchors, hidden)
        return self._shape(self.v_attn(torch.tanh(keys + self.w_curr(h))).squeeze(1))

    @staticmethod
    def _pick_choice(
        log_p: torch.Tensor,
        given: Sequence[int] | None,
        generator: torch.Generator | None,
        greedy: bool,
    ) -> int:
        if given is not None:
            return int(given[0])
        if greedy:
            return int(log_p.argmax())
        return int(torch.multinomial(log_p.exp(), 1, generator=generator))

    @staticmethod
    def _pick_skips(
        logits: torch.Tensor,
        given: Sequence[int] | None,
        generator: torch.Generator | None,
        greedy: bool,
    ) -> torch.Tensor:
        if given is not None:
            return torch.tensor(list(given), dtype=torch.float32)
        if greedy:
            return (logits > 0).float()
        return (torch.rand(logits.shape, generator=generator) < torch.sigmoid(logits)).float()

    def _skip_kl(self, probs: torch.Tensor) -> torch.Tensor:
        """KL(Bernoulli(p) ‖ Bernoulli(skip_target)), summed over anchors."""
        p = probs.clamp(1e-6, 1 - 1e-6)
        q = self.skip_target
        return (p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))).sum()


def _categorical_entropy(log_p: torch.Tensor) -> torch.Tensor:
    # Masked options have log p = -inf and p = 0; they contribute nothing.
    p = log_p.exp()
    return -(p * log_p.masked_fill(p == 0, 0.0)).sum()


def _bernoulli_entropy(logits: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    return (F.softplus(logits) - p * logits).sum()
