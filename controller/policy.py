"""The LSTM policy: samples a search space's decisions token by token, or re-scores them.

At each step the LSTM reads the embedding of the previous answer (a learned start token first)
and a per-kind softmax head scores the next decision. Logits go through a temperature and
`tanh_constant · tanh(·)` clipping (ENAS). Skip decisions use Zoph & Le's anchor points: the
LSTM output at the end of each layer is an anchor, and layer i connects to layer j with
probability `sigmoid(vᵀ tanh(W_prev h_j + W_curr h_i))`. The rollout loop itself is shared
with the other policies (controller/decision_policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from controller.decision_policy import DecisionPolicy
from core.space import Choice, Decision, SearchSpace, SkipChoice


@dataclass
class _LSTMPass:
    """The state of one pass: the next input, each cell's (h, c), and the anchors so far."""

    inputs: torch.Tensor
    state: list[tuple[torch.Tensor, torch.Tensor]]
    anchors: list[torch.Tensor] = field(default_factory=list)  # LSTM outputs ending a layer
    anchor_keys: list[torch.Tensor] = field(default_factory=list)  # W_prev h_j, once per anchor


class LSTMPolicy(DecisionPolicy):
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
        super().__init__(space, temperature, tanh_constant, skip_target, skip_kl_average)
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

    def _begin(self, rows: int) -> _LSTMPass:
        zeros = torch.zeros(rows, self.start.shape[1])
        return _LSTMPass(self.start.expand(rows, -1), [(zeros, zeros) for _ in self.cells])

    def _read(self, ctx: _LSTMPass) -> torch.Tensor:
        inputs = ctx.inputs
        for k, cell in enumerate(self.cells):
            ctx.state[k] = cell(inputs, ctx.state[k])
            inputs = ctx.state[k][0]
        return inputs  # (rows, hidden)

    def _choice_log_probs(self, decision: Choice, h: torch.Tensor) -> torch.Tensor:
        return self._masked_log_softmax(decision, self.heads[decision.head](h))

    def _skip_logits(self, decision: SkipChoice, h: torch.Tensor, ctx: _LSTMPass) -> torch.Tensor:
        keys = torch.stack(ctx.anchor_keys[: decision.num_anchors], dim=1)  # (rows, anchors, hid)
        scores = self.v_attn(torch.tanh(keys + self.w_curr(h).unsqueeze(1))).squeeze(2)
        return self._shape(scores)

    def _answered(
        self, decision: Decision, answer: torch.Tensor, h: torch.Tensor, ctx: _LSTMPass
    ) -> None:
        if isinstance(decision, Choice):
            ctx.inputs = self.embed[decision.head](answer)
        else:
            chosen_anchors = torch.stack(ctx.anchors[: decision.num_anchors], dim=1)
            # Next input: the mean of the chosen anchors (zero when none is chosen).
            inputs = (answer.unsqueeze(1) @ chosen_anchors).squeeze(1)
            ctx.inputs = inputs / (1.0 + answer.sum(dim=1, keepdim=True))
        if decision.ends_layer and self.space.uses_skips:
            ctx.anchors.append(h)
            ctx.anchor_keys.append(self.w_prev(h))
