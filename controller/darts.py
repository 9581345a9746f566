"""DARTS's architecture weights (Liu et al. 2019): a continuous relaxation, trained by gradient.

Every decision of the space gets free logits, one per option (one per anchor for a skip
decision), as `controller=softmax` has, initialised at 1e-3·randn as DARTS does. The supernet
runs every option at once, weighted by `mixing_weights()`: the softmax of a choice's logits, the
sigmoid of each skip logit. `step(loss)` moves the logits down the gradient of a validation loss
(first-order DARTS: the shared weights are taken as they are, not as they would be after one more
training step). The derived architecture is the argmax: each choice's largest weight, and every
skip whose weight exceeds one half.

It answers the `Controller` interface so that the rest of the code can treat it as one:
`favourite()` is the argmax, `propose(n)` samples from the relaxed distribution, and the state
can be saved. It never learns from rewards: `learn` refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from controller.base import ControllerDef
from controller.config import DartsControllerConfig
from controller.softmax_policy import INIT_STD, decision_table, logit_count
from core.architecture import Architecture
from core.space import Choice, Decision, SearchSpace, outcome_labels


class DartsController:
    """Architecture logits per decision, their Adam optimizer, and the argmax they imply."""

    def __init__(self, space: SearchSpace, cfg: DartsControllerConfig, seed: int) -> None:
        self.space = space
        self.cfg = cfg
        self.decisions = decision_table(space)
        self.index = {name: i for i, name in enumerate(self.decisions)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the initial logits depend on the run seed only
            self.alphas = nn.ParameterList(
                nn.Parameter(INIT_STD * torch.randn(logit_count(d)))
                for d in self.decisions.values()
            )
        self.optimizer = torch.optim.Adam(
            self.alphas.parameters(),
            lr=cfg.lr,
            betas=(cfg.beta1, cfg.beta2),
            weight_decay=cfg.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(seed)

    def mixing_weights(
        self, device: torch.device | str = "cpu", detach: bool = False
    ) -> dict[str, torch.Tensor]:
        """Per decision name, the weights the supernet mixes its options with."""
        weights = {}
        for name, decision in self.decisions.items():
            logits = self.alphas[self.index[name]]
            logits = logits.detach() if detach else logits
            # Moved per call, not kept on the device: the logits are tiny, and a checkpoint then
            # loads anywhere.
            weights[name] = _mix(decision, logits).to(device)
        return weights

    def step(self, loss: torch.Tensor) -> None:
        """One Adam step of the logits down the gradient of `loss` (a validation loss)."""
        params = list(self.alphas)
        # autograd.grad, not backward: the supernet's weight gradients are not needed here.
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad if grad is not None else torch.zeros_like(param)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def probabilities(self) -> dict[str, dict[str, float]]:
        """Per decision and option, its mixing weight (`from_<j>` for a skip to layer j)."""
        out: dict[str, dict[str, float]] = {}
        for name, weights in self.mixing_weights(detach=True).items():
            labels = outcome_labels(self.decisions[name])
            out[name] = {label: float(w) for label, w in zip(labels, weights, strict=True)}
        return out

    @torch.no_grad()
    def entropy(self) -> float:
        """The summed entropy of every decision's relaxed distribution (nats)."""
        total = 0.0
        for name, weights in self.mixing_weights(detach=True).items():
            if isinstance(self.decisions[name], Choice):
                total -= float((weights * weights.clamp_min(1e-12).log()).sum())
            else:  # independent Bernoulli gates
                p = weights.clamp(1e-12, 1 - 1e-12)
                total -= float((p * p.log() + (1 - p) * (1 - p).log()).sum())
        return total

    # --- the Controller interface ------------------------------------------------------

    def favourite(self) -> Architecture:
        """The argmax: each choice's heaviest legal option, every skip weighted above 1/2."""
        logits = self._logits()

        def choose(decision: Decision, _: list[int]) -> list[int]:
            values = logits[decision.name]
            if isinstance(decision, Choice):
                return [max(decision.allowed_tokens(), key=lambda t: float(values[t]))]
            return [int(v > 0) for v in values]

        return self.space.decode(self.space.build(choose))

    def propose(self, n: int) -> list[Architecture]:
        """`n` architectures sampled from the relaxed distribution (DARTS itself never samples)."""
        logits = self._logits()

        def choose(decision: Decision, _: list[int]) -> list[int]:
            values = logits[decision.name]
            if isinstance(decision, Choice):
                allowed = torch.tensor([decision.is_allowed(t) for t in range(len(values))])
                probs = torch.softmax(values.masked_fill(~allowed, float("-inf")), 0)
                return [int(torch.multinomial(probs, 1, generator=self.generator))]
            draws = torch.rand(len(values), generator=self.generator)
            return [int(u < p) for u, p in zip(draws, torch.sigmoid(values), strict=True)]

        return [self.space.decode(self.space.build(choose)) for _ in range(n)]

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Refused: DARTS learns from the gradient of a validation loss (`step`)."""
        raise TypeError("controller=darts learns by gradient (step), not from rewards")

    def state_dict(self) -> dict[str, Any]:
        """Logits, their optimizer and the sampling generator."""
        return {
            "alphas": [p.detach().clone() for p in self.alphas],
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        with torch.no_grad():
            for param, saved in zip(self.alphas, state["alphas"], strict=True):
                param.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])

    def _logits(self) -> dict[str, torch.Tensor]:
        return {name: self.alphas[i].detach() for name, i in self.index.items()}


def _mix(decision: Decision, logits: torch.Tensor) -> torch.Tensor:
    """A choice's softmax over its legal options, or a skip decision's sigmoid gates."""
    if isinstance(decision, Choice):
        if decision.allowed is not None:
            allowed = torch.tensor(decision.allowed)
            logits = logits.masked_fill(~allowed, float("-inf"))
        return torch.softmax(logits, 0)
    return torch.sigmoid(logits)


CONTROLLER = ControllerDef(name="darts", config=DartsControllerConfig, build=DartsController)
