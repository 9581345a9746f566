"""The LSTM controller trained with REINFORCE and an exponential-moving-average baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from child.architecture import Architecture
from child.spaces.base import SearchSpace
from controller.config import LSTMControllerConfig
from controller.policy import LSTMPolicy


class ReinforceController:
    """Samples from an `LSTMPolicy` and updates it with REINFORCE.

    loss = −(R − b)·log π(a) − entropy_weight·H(π) + skip_weight·KL(skips ‖ skip_target),
    averaged over the batch, where b is an EMA of past rewards (decay `baseline_decay`). The
    advantage of a batch uses the baseline from before that batch; b starts at the first
    batch's mean reward rather than 0, so the first updates are not all "better than expected".
    """

    def __init__(self, space: SearchSpace, cfg: LSTMControllerConfig, seed: int) -> None:
        self.space = space
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = LSTMPolicy(
                space,
                hidden_size=cfg.hidden_size,
                num_layers=cfg.num_layers,
                temperature=cfg.temperature,
                tanh_constant=cfg.tanh_constant,
                skip_target=cfg.skip_target,
            )
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.reward_var = 0.0  # EMA of squared deviations from the baseline

    def propose(self, n: int) -> list[Architecture]:
        """Sample `n` architectures from the current policy."""
        with torch.no_grad():
            rollout = self.policy.sample(n, self.generator)
        return [self.space.decode(tokens) for tokens in rollout.tokens]

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """One REINFORCE step on the batch; returns loss, baseline, advantage, entropy, KL."""
        rollout = self.policy.score([self.space.encode(a) for a in archs])
        log_probs, entropies, skip_kls = rollout.log_prob, rollout.entropy, rollout.skip_kl
        reward = torch.tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(reward.mean())
        advantage = reward - self.baseline
        loss = (
            -(advantage * log_probs).mean()
            - self.cfg.entropy_weight * entropies.mean()
            + self.cfg.skip_weight * skip_kls.mean()
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        baseline_used = self.baseline
        decay = self.cfg.baseline_decay
        for r in rewards:
            self.reward_var = decay * self.reward_var + (1 - decay) * (r - self.baseline) ** 2
            self.baseline = decay * self.baseline + (1 - decay) * r
        return {
            "loss": loss.item(),
            "baseline": baseline_used,
            "advantage": advantage.mean().item(),
            "entropy": entropies.mean().item(),
            "log_prob": log_probs.mean().item(),
            "skip_kl": skip_kls.mean().item(),
            "grad_norm": grad_norm.item(),
        }

    def favourite(self) -> Architecture:
        """Greedy (argmax) decoding of the current policy."""
        with torch.no_grad():
            return self.space.decode(self.policy.sample(1, greedy=True).tokens[0])

    def state_dict(self) -> dict[str, Any]:
        """Policy weights, optimizer state, baseline and sampling RNG state."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "reward_var": self.reward_var,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.reward_var = state["reward_var"]
        self.generator.set_state(state["generator"])
