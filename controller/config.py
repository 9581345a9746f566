"""Typed configs of the controllers (the Hydra schemas of `conf/controller/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LSTMControllerConfig:
    """The LSTM controller trained with REINFORCE (Zoph & Le 2017; ENAS, Pham et al. 2018).

    The defaults are `controller=lstm`, tuned for small budgets (about 100 children): lr 1e-2
    with 2 children per update learned within 100 children on MNIST-1D.
    """

    name: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
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
