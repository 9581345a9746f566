"""Policy-gradient controllers: a policy trained with REINFORCE or PPO and an EMA baseline."""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import torch

from controller.base import ControllerDef
from controller.config import LSTMControllerConfig, PolicyGradientConfig, SoftmaxControllerConfig
from controller.decision_policy import DecisionPolicy, Rollout
from controller.policy import LSTMPolicy
from controller.softmax_policy import SoftmaxPolicy
from core.architecture import Architecture
from core.space import SearchSpace


def build_policy(space: SearchSpace, cfg: PolicyGradientConfig) -> DecisionPolicy:
    """The policy `cfg` names: an LSTM (`lstm`) or one free softmax per decision (`softmax`)."""
    shaping = {
        "temperature": cfg.temperature,
        "tanh_constant": cfg.tanh_constant,
        "skip_target": cfg.skip_target,
        "skip_kl_average": cfg.skip_kl_average,
    }
    if isinstance(cfg, LSTMControllerConfig):
        return LSTMPolicy(space, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, **shaping)
    if isinstance(cfg, SoftmaxControllerConfig):
        return SoftmaxPolicy(space, **shaping)
    raise TypeError(f"no policy for a {type(cfg).__name__}")


class PolicyGradientController:
    """Samples from a policy (`LSTMPolicy`, `SoftmaxPolicy`) and updates it by policy gradient.

    With `update="reinforce"` (the default), one Adam step per batch on
    loss = −A·log π(a) − entropy_weight·H(π) + skip_weight·KL(skips ‖ skip_target),
    averaged over the batch. By default the advantage is A = R − b, where b is an EMA of
    rewards (decay `baseline_decay`). Two settings say how b meets a batch:
    - `baseline_first`: false (the default) judges a batch against the baseline from before it
      and then lets its rewards move b; true lets the rewards move b first and judges them
      against the moved b, as the reference implementations do (ENAS's `baseline_update` under
      a control dependency; NAS-Bench-201's reinforce.py).
    - `baseline_debias`: false starts b at the first batch's mean reward (ENAS starts at 0,
      which makes the first updates all "better than expected"); true starts an EMA at 0 and
      divides it by 1 − decay^k after k rewards, NAS-Bench-201's bias-corrected average.
    With `advantage_norm`, A is divided by the running std of rewards around b (an EMA with the
    same decay, started at the first batch's variance).

    `entropy_reward` moves the entropy bonus from the loss into the reward, as ENAS's code
    does: each architecture's reward becomes R + entropy_weight·H, H the summed entropy of the
    decisions that sampled it (no gradient through H), before the baseline and advantage.

    `advantage="rank"` uses instead the centred rank of each reward among this batch and the
    `rank_window` rewards before it: (number below + half the ties) / pool size − 0.5. Ranks
    ignore the reward's scale, so a 0.01% step near the top of a table counts as much as a 10%
    step at the bottom. With `elite_size` > 0 and `elite_weight` > 0 the loss also has
    −elite_weight · mean log π(e) over the `elite_size` best architectures seen so far (this
    batch included): priority-queue training (Abolafia et al. 2018), which keeps the policy
    near the best it has found, the way regularized evolution mutates its tournament winners.

    With `update="ppo"` the same advantages feed PPO's clipped surrogate (Schulman et al.
    2017): `ppo_epochs` Adam steps on −mean(min(ρA, clip(ρ, 1 − ε, 1 + ε)A)) plus the same
    entropy, skip and elite terms, where ρ = π(a)/π_old(a) and ε = `ppo_clip`. π_old is the
    policy that proposed the batch: `propose` stores each architecture's log-probability, in
    proposal order, and the checkpoint keeps them, so a search that proposes ahead of learning
    (budget.depth > 0) or resumes still compares with the proposing policy (`ppo_old=learn`
    uses the policy at learn time instead). When nothing ran ahead, the first step is
    REINFORCE's step (ρ = 1 there); a row whose ratio has left [1 − ε, 1 + ε] in its
    advantage's direction gives no gradient, so one batch cannot push the policy far. NASNet
    (Zoph et al. 2018) trained its controller this way.
    """

    def __init__(
        self,
        space: SearchSpace,
        cfg: PolicyGradientConfig,
        seed: int,
        policy: DecisionPolicy | None = None,
    ) -> None:
        self.space = space
        self.cfg = cfg
        if policy is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # the same initial policy for the same seed
                policy = build_policy(space, cfg)
        self.policy = policy
        self.optimizer = torch.optim.Adam(
            self.policy.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999)
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        # The EMA's total weight (1 − decay^k after k rewards when debiased, else 1): the
        # baseline is the weighted sum of rewards divided by it.
        self.baseline_weight = 0.0
        self.reward_var = 0.0  # EMA of squared deviations from the baseline
        # PPO: (architecture, log π) of each proposal not learned yet, in proposal order.
        self.proposed: deque[tuple[Architecture, float]] = deque()
        self.recent: deque[float] = deque(maxlen=cfg.rank_window)  # rewards ranks compare with
        self.elite: dict[Architecture, float] = {}  # the elite_size best architectures seen

    def propose(self, n: int) -> list[Architecture]:
        """Sample `n` architectures from the current policy."""
        with torch.no_grad():
            rollout = self.policy.sample(n, self.generator)
        archs = [self.space.decode(tokens) for tokens in rollout.tokens]
        if self._stores_proposals():
            self.proposed.extend(zip(archs, rollout.log_prob.tolist(), strict=True))
        return archs

    def _stores_proposals(self) -> bool:
        return self.cfg.update == "ppo" and self.cfg.ppo_old == "proposal"

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """One update on the batch; returns loss, baseline, advantage, entropy, KL, grad norm.

        The statistics describe the policy that proposed the batch (PPO's first epoch). PPO
        adds, after its last epoch, `clip_fraction` (the share of the batch whose ratio ended
        outside 1 ± ppo_clip) and `approx_kl` (KL(π_old ‖ π) estimated on the batch).
        """
        token_lists = [self.space.encode(a) for a in archs]
        old_log_prob = self._proposal_log_probs(archs)
        rewards = [float(r) for r in rewards]
        if self.cfg.entropy_reward and self.cfg.entropy_weight > 0:
            with torch.no_grad():
                entropy = self.policy.score(token_lists).entropy.tolist()
            rewards = [
                r + self.cfg.entropy_weight * h for r, h in zip(rewards, entropy, strict=True)
            ]
        if self.baseline is None:
            mean = sum(rewards) / len(rewards)
            self.reward_var = sum((r - mean) ** 2 for r in rewards) / len(rewards)
            # Debiased: an empty EMA (weight 0); otherwise the batch mean with full weight.
            start = (0.0, 0.0) if self.cfg.baseline_debias else (mean, 1.0)
            self.baseline, self.baseline_weight = start
        if self.cfg.baseline_first:
            self._update_baseline(rewards)
        advantage = self._advantages(rewards)
        self._update_elite(archs, rewards)
        if self.cfg.update == "ppo":
            stats = self._ppo(token_lists, advantage, old_log_prob)
        else:
            stats = self._reinforce(token_lists, advantage)
        if not self.cfg.baseline_first:
            self._update_baseline(rewards)
        self.recent.extend(rewards)
        return stats

    def _update_baseline(self, rewards: Sequence[float]) -> None:
        """Move the EMA baseline (and the reward variance around it) by each reward in turn."""
        assert self.baseline is not None
        decay = self.cfg.baseline_decay
        for r in rewards:
            self.reward_var = decay * self.reward_var + (1 - decay) * (r - self.baseline) ** 2
            if self.baseline_weight == 1.0:  # a plain EMA, computed as it always was
                self.baseline = decay * self.baseline + (1 - decay) * r
                continue
            weight = decay * self.baseline_weight + (1 - decay)
            self.baseline = (
                decay * self.baseline_weight * self.baseline + (1 - decay) * r
            ) / weight
            self.baseline_weight = weight

    def _proposal_log_probs(self, archs: Sequence[Architecture]) -> list[float | None]:
        """Each architecture's log π when it was proposed (None where it was not stored).

        The loop learns in proposal order, so each architecture is the first stored proposal
        of it; stored proposals before it were dropped by the loop and are dropped here too.
        """
        out: list[float | None] = []
        for arch in archs:
            found = None
            if self._stores_proposals():
                for i, (proposed, _) in enumerate(self.proposed):
                    if proposed == arch:
                        found = i
                        break
            if found is None:
                out.append(None)
                continue
            for _ in range(found):
                self.proposed.popleft()
            out.append(self.proposed.popleft()[1])
        return out

    def _reinforce(self, token_lists: list[list[int]], advantage: torch.Tensor) -> dict[str, float]:
        """One gradient step on −A·log π plus the shared terms."""
        rollout = self.policy.score(token_lists)
        elite_log_prob = self._elite_log_prob()
        loss = self._loss(-(advantage * rollout.log_prob).mean(), rollout, elite_log_prob)
        grad_norm = self._step(loss)
        return self._stats(loss, advantage, rollout, grad_norm, elite_log_prob)

    def _ppo(
        self,
        token_lists: list[list[int]],
        advantage: torch.Tensor,
        proposal_log_prob: Sequence[float | None],
    ) -> dict[str, float]:
        """`ppo_epochs` gradient steps on the clipped surrogate plus the shared terms."""
        eps = self.cfg.ppo_clip
        stats: dict[str, float] = {}
        rollout = self.policy.score(token_lists)
        # π_old: the proposing policy's log π where stored, else the policy as it is now.
        now = rollout.log_prob.detach()
        stored = [lp for lp in proposal_log_prob if lp is not None]
        old_log_prob = torch.tensor(
            [now[i].item() if lp is None else lp for i, lp in enumerate(proposal_log_prob)],
            dtype=now.dtype,
        )
        for epoch in range(self.cfg.ppo_epochs):
            if epoch > 0:
                rollout = self.policy.score(token_lists)
            ratio = torch.exp(rollout.log_prob - old_log_prob)
            surrogate = torch.min(ratio * advantage, ratio.clamp(1 - eps, 1 + eps) * advantage)
            elite_log_prob = self._elite_log_prob()
            loss = self._loss(-surrogate.mean(), rollout, elite_log_prob)
            grad_norm = self._step(loss)
            if epoch == 0:
                stats = self._stats(loss, advantage, rollout, grad_norm, elite_log_prob)
        with torch.no_grad():
            log_ratio = self.policy.score(token_lists).log_prob - old_log_prob
        # (ρ − 1) − log ρ: an unbiased, never negative estimate of KL(π_old ‖ π) on the batch.
        stats["approx_kl"] = (log_ratio.exp() - 1 - log_ratio).mean().item()
        stats["clip_fraction"] = ((log_ratio.exp() - 1).abs() > eps).float().mean().item()
        # How far the learning policy had drifted from the proposing one before this update.
        stats["proposal_log_ratio"] = (now - old_log_prob).mean().item()
        stats["proposal_stored"] = len(stored) / len(proposal_log_prob)
        return stats

    def _loss(
        self, surrogate: torch.Tensor, rollout: Rollout, elite_log_prob: torch.Tensor | None
    ) -> torch.Tensor:
        """The surrogate plus the terms every update shares: entropy, skip KL, elite."""
        # With entropy_reward the bonus is already in the rewards, with no gradient of its own.
        entropy_weight = 0.0 if self.cfg.entropy_reward else self.cfg.entropy_weight
        loss = (
            surrogate
            - entropy_weight * rollout.entropy.mean()
            + self.cfg.skip_weight * rollout.skip_kl.mean()
        )
        if elite_log_prob is not None:
            loss = loss - self.cfg.elite_weight * elite_log_prob
        return loss

    def _step(self, loss: torch.Tensor) -> torch.Tensor:
        """One Adam step on `loss`; the gradient norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # grad_clip 0 means no clipping; the norm is still measured (before any clipping).
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm)
        self.optimizer.step()
        return grad_norm

    def _stats(
        self,
        loss: torch.Tensor,
        advantage: torch.Tensor,
        rollout: Rollout,
        grad_norm: torch.Tensor,
        elite_log_prob: torch.Tensor | None,
    ) -> dict[str, float]:
        """The scalars worth logging about one step (`baseline`: the one its advantages used)."""
        stats = {
            "loss": loss.item(),
            "baseline": self.baseline,
            "advantage": advantage.mean().item(),
            "entropy": rollout.entropy.mean().item(),
            "log_prob": rollout.log_prob.mean().item(),
            "skip_kl": rollout.skip_kl.mean().item(),
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

    def _elite_on(self) -> bool:
        return self.cfg.elite_size > 0 and self.cfg.elite_weight > 0

    def _update_elite(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> None:
        """Keep the `elite_size` best architectures seen, this batch included (when on)."""
        if not self._elite_on():
            return
        for arch, reward in zip(archs, rewards, strict=True):
            self.elite[arch] = float(reward)
        # sorted() is stable: among equal rewards the architecture seen first stays.
        ranked = sorted(self.elite, key=self.elite.__getitem__, reverse=True)
        self.elite = {a: self.elite[a] for a in ranked[: self.cfg.elite_size]}

    def _elite_log_prob(self) -> torch.Tensor | None:
        """The policy's mean log π over the elite, with gradients (None when the term is off)."""
        if not self._elite_on():
            return None
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
            "baseline_weight": self.baseline_weight,
            "reward_var": self.reward_var,
            "proposed": [[a.to_json(), lp] for a, lp in self.proposed],
            "recent": list(self.recent),
            "elite": [[a.to_json(), r] for a, r in self.elite.items()],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        self.policy.load_state_dict(state["policy"])
        # Adam adopts the given moment and step tensors rather than copying them, so loading
        # another live controller's state would tie the two optimizers together.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.baseline = state["baseline"]
        # A checkpoint from before the debiased baseline: an EMA started at a batch mean.
        self.baseline_weight = state.get("baseline_weight", 1.0)
        self.reward_var = state["reward_var"]
        self.proposed = deque(
            (Architecture.from_json(a), float(lp)) for a, lp in state.get("proposed", ())
        )
        self.recent = deque(state.get("recent", ()), maxlen=self.cfg.rank_window)
        self.elite = {Architecture.from_json(a): float(r) for a, r in state.get("elite", ())}
        self.generator.set_state(state["generator"])


CONTROLLER = (
    ControllerDef(name="lstm", config=LSTMControllerConfig, build=PolicyGradientController),
    ControllerDef(name="softmax", config=SoftmaxControllerConfig, build=PolicyGradientController),
)
