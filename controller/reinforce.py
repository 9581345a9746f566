"""The LSTM controller trained with REINFORCE and an exponential-moving-average baseline."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import torch

from controller.config import LSTMControllerConfig
from controller.policy import LSTMPolicy
from core.architecture import Architecture
from core.space import SearchSpace

ADVANTAGES = ("baseline", "rank")


class ReinforceController:
    """Samples from an `LSTMPolicy` and updates it with REINFORCE.

    loss = −A·log π(a) − entropy_weight·H(π) + skip_weight·KL(skips ‖ skip_target),
    averaged over the batch. By default the advantage is A = R − b, where b is an EMA of past
    rewards (decay `baseline_decay`). The advantage of a batch uses the baseline from before
    that batch; b starts at the first batch's mean reward rather than 0, so the first updates
    are not all "better than expected". With `advantage_norm`, A is divided by the running std
    of rewards around b (an EMA with the same decay, started at the first batch's variance).

    `advantage="rank"` uses instead the centred rank of each reward among this batch and the
    `rank_window` rewards before it: (number below + half the ties) / pool size − 0.5. Ranks
    ignore the reward's scale, so a 0.01% step near the top of a table counts as much as a 10%
    step at the bottom. With `elite_size` > 0 and `elite_weight` > 0 the loss also has
    −elite_weight · mean log π(e) over the `elite_size` best architectures seen so far (this
    batch included): priority-queue training (Abolafia et al. 2018), which keeps the policy
    near the best it has found, the way regularized evolution mutates its tournament winners.
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
                skip_kl_average=cfg.skip_kl_average,
            )
        self.optimizer = torch.optim.Adam(
            self.policy.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999)
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.reward_var = 0.0  # EMA of squared deviations from the baseline
        self.recent: deque[float] = deque(maxlen=cfg.rank_window)  # rewards ranks compare with
        self.elite: dict[Architecture, float] = {}  # the elite_size best architectures seen

    def propose(self, n: int) -> list[Architecture]:
        """Sample `n` architectures from the current policy."""
        with torch.no_grad():
            rollout = self.policy.sample(n, self.generator)
        return [self.space.decode(tokens) for tokens in rollout.tokens]

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """One REINFORCE step on the batch; returns loss, baseline, advantage, entropy, KL."""
        rollout = self.policy.score([self.space.encode(a) for a in archs])
        log_probs, entropies, skip_kls = rollout.log_prob, rollout.entropy, rollout.skip_kl
        if self.baseline is None:
            self.baseline = sum(rewards) / len(rewards)
            self.reward_var = sum((r - self.baseline) ** 2 for r in rewards) / len(rewards)
        advantage = self._advantages(rewards)
        loss = (
            -(advantage * log_probs).mean()
            - self.cfg.entropy_weight * entropies.mean()
            + self.cfg.skip_weight * skip_kls.mean()
        )
        elite_log_prob = self._elite_log_prob(archs, rewards)
        if elite_log_prob is not None:
            loss = loss - self.cfg.elite_weight * elite_log_prob
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # grad_clip 0 means no clipping; the norm is still measured (before any clipping).
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm)
        self.optimizer.step()
        baseline_used = self.baseline
        decay = self.cfg.baseline_decay
        for r in rewards:
            self.reward_var = decay * self.reward_var + (1 - decay) * (r - self.baseline) ** 2
            self.baseline = decay * self.baseline + (1 - decay) * r
        self.recent.extend(rewards)
        stats = {
            "loss": loss.item(),
            "baseline": baseline_used,
            "advantage": advantage.mean().item(),
            "entropy": entropies.mean().item(),
            "log_prob": log_probs.mean().item(),
            "skip_kl": skip_kls.mean().item(),
            "grad_norm": grad_norm.item(),
        }
        if elite_log_prob is not None:
            stats["elite_log_prob"] = elite_log_prob.item()
        return stats

    def _advantages(self, rewards: Sequence[float]) -> torch.Tensor:
        """One advantage per reward, as `advantage` and `advantage_norm` say (see the class)."""
        if self.cfg.advantage == "rank":
            reward = torch.tensor(rewards, dtype=torch.float64)
            pool = torch.cat([torch.tensor(list(self.recent), dtype=torch.float64), reward])
            below = (pool[None, :] < reward[:, None]).sum(dim=1)
            ties = (pool[None, :] == reward[:, None]).sum(dim=1)
            return ((below + 0.5 * ties) / len(pool) - 0.5).float()
        assert self.baseline is not None
        advantage = torch.tensor(rewards, dtype=torch.float32) - self.baseline
        if self.cfg.advantage_norm:
            advantage = advantage / (math.sqrt(self.reward_var) + 1e-8)
        return advantage

    def _elite_log_prob(
        self, archs: Sequence[Architecture], rewards: Sequence[float]
    ) -> torch.Tensor | None:
        """Update the elite with this batch; the policy's mean log π over it (None when off)."""
        if self.cfg.elite_size == 0 or self.cfg.elite_weight == 0:
            return None
        for arch, reward in zip(archs, rewards, strict=True):
            self.elite[arch] = float(reward)
        # sorted() is stable: among equal rewards the architecture seen first stays.
        ranked = sorted(self.elite, key=self.elite.__getitem__, reverse=True)
        self.elite = {a: self.elite[a] for a in ranked[: self.cfg.elite_size]}
        return self.policy.score([self.space.encode(a) for a in self.elite]).log_prob.mean()

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
            "recent": list(self.recent),
            "elite": [[a.to_json(), r] for a, r in self.elite.items()],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.reward_var = state["reward_var"]
        self.recent = deque(state.get("recent", ()), maxlen=self.cfg.rank_window)
        self.elite = {Architecture.from_json(a): float(r) for a, r in state.get("elite", ())}
        self.generator.set_state(state["generator"])
