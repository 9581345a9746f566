"""Typed configs of the controllers (the Hydra schemas of `conf/controller/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PolicyGradientConfig:
    """What every policy-gradient controller shares: the update, its advantage and its terms.

    The defaults are those of `controller=lstm`, tuned for small budgets (about 100 children):
    lr 1e-2 with 2 children per update learned within 100 children on MNIST-1D. Each subclass
    names a policy and may change the defaults (`SoftmaxControllerConfig`).
    """

    name: str = ""  # set by each subclass: the `controller=<name>` option
    lr: float = 1e-2  # Adam
    temperature: float = 1.0
    tanh_constant: float = 2.5  # logits are clipped to ±tanh_constant; 0 turns clipping off
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.95
    skip_target: float = 0.4  # the skip probability the KL term pulls towards
    skip_weight: float = 0.0  # weight of that KL pull; 0 = off
    # The KL of each layer's skip probabilities, summed over its anchors, is summed over the
    # layers (false) or averaged over them, as ENAS does (true).
    skip_kl_average: bool = False
    grad_clip: float = 5.0  # max gradient norm; 0 turns clipping off
    # How rewards become advantages: "baseline" = R − b (b the EMA above; divided by a running
    # std of rewards when advantage_norm), "rank" = the centred rank of R among this batch and
    # the rank_window rewards before it, in [−0.5, 0.5] (scale-free; advantage_norm is ignored).
    advantage: str = "baseline"
    advantage_norm: bool = False
    rank_window: int = 50
    # Priority-queue training (Abolafia et al. 2018): also maximise the mean log-probability of
    # the elite_size best architectures seen so far, weighted by elite_weight; 0 = off.
    elite_size: int = 0
    elite_weight: float = 0.0
    adam_beta1: float = 0.9  # Adam's first-moment decay (β₂ stays 0.999)
    # "reinforce": one gradient step per batch on −A·log π. "ppo": PPO's clipped surrogate
    # (Schulman et al. 2017), ppo_epochs Adam steps per batch on −min(ρA, clip(ρ, 1 ± ppo_clip)A)
    # with ρ = π/π_old, π_old the policy that proposed the batch; the same advantages.
    update: str = "reinforce"
    ppo_epochs: int = 4
    ppo_clip: float = 0.2


@dataclass
class LSTMControllerConfig(PolicyGradientConfig):
    """The LSTM controller (Zoph & Le 2017; ENAS, Pham et al. 2018); defaults `controller=lstm`."""

    name: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1


@dataclass
class SoftmaxControllerConfig(PolicyGradientConfig):
    """One free softmax per decision, no LSTM: the NAS-Bench-201 paper's reference REINFORCE.

    Its defaults are the reference's (D-X-Y/AutoDL-Projects, exps/NATS-algos/reinforce.py):
    Adam lr 0.01, an EMA baseline with decay 0.9, no logit clipping, no entropy bonus and no
    gradient clipping.
    """

    name: str = "softmax"
    lr: float = 1e-2  # the reference's, stated so that it stays if lstm's default changes
    tanh_constant: float = 0.0
    entropy_weight: float = 0.0
    baseline_decay: float = 0.9
    grad_clip: float = 0.0


@dataclass
class RandomControllerConfig:
    """Random search: every architecture uniformly at random."""

    name: str = "random"


@dataclass
class EvolutionControllerConfig:
    """Regularized evolution (Real et al. 2019): tournament selection, oldest removed."""

    name: str = "evolution"
    population: int = 50  # random children until the population is full; then the oldest dies
    sample_size: int = 25  # each parent is the best of this many random members


@dataclass
class DartsControllerConfig:
    """DARTS (Liu et al. 2019): architecture weights trained by gradient on validation batches.

    Not a sampler: one logit vector per decision (the shape of `controller=softmax`'s), mixed
    into every forward pass of the supernet (`evaluator=shared` only) and trained with Adam on
    the validation loss. The defaults are DARTS's: Adam lr 3e-4, betas (0.5, 0.999), weight
    decay 1e-3.
    """

    name: str = "darts"
    lr: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-3
