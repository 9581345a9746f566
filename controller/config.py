"""Typed configs of the controllers (the Hydra schemas of `conf/controller/*.yaml`).

Each config checks its own settings (`check()`, called by the validation pass and before a
controller is built); a config that extends another extends its check.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import require

ADVANTAGES = ("baseline", "rank")
UPDATES = ("reinforce", "ppo")
PPO_OLD = ("proposal", "learn")
TOURNAMENTS = ("with_replacement", "without_replacement")
MUTATIONS = ("uniform", "grouped")


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
    # Where the entropy bonus goes: false = −entropy_weight·H in the loss (a gradient that
    # flattens the policy); true = +entropy_weight·H of the sampled architecture added to its
    # reward, without gradient, before the baseline and advantage (ENAS's code).
    entropy_reward: bool = False
    baseline_decay: float = 0.95
    # The order of baseline and advantage: false = a batch's advantages use the baseline from
    # before it (then the batch updates it); true = the batch's rewards update the baseline
    # first and the advantages use the updated one (ENAS's and NAS-Bench-201's reference code).
    baseline_first: bool = False
    # The baseline's start: false = the first batch's mean reward; true = an EMA started at 0
    # and divided by 1 − decay^k after k rewards (the NAS-Bench-201 reference's bias-corrected
    # average; its first value is also the first reward, but early rewards weigh more).
    baseline_debias: bool = False
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
    # PPO's π_old: "proposal" = the log-probability each architecture had under the policy
    # that proposed it, stored by propose() (and in checkpoints); "learn" = the policy at
    # learn time, before the update. They differ only when proposals run ahead of learning
    # (budget.depth > 0); "learn" was the behaviour before issue 22.
    ppo_old: str = "proposal"

    def check(self) -> None:
        """Raise ConfigError for an update, advantage or term that cannot work."""
        require(self.lr > 0, "controller.lr", self.lr, "a positive learning rate")
        require(
            self.grad_clip >= 0,
            "controller.grad_clip",
            self.grad_clip,
            "a max gradient norm > 0, or 0 for no clipping",
        )
        require(
            self.entropy_weight >= 0,
            "controller.entropy_weight",
            self.entropy_weight,
            "a number >= 0",
        )
        require(self.skip_weight >= 0, "controller.skip_weight", self.skip_weight, "a number >= 0")
        require(self.temperature > 0, "controller.temperature", self.temperature, "a number > 0")
        require(
            self.tanh_constant >= 0,
            "controller.tanh_constant",
            self.tanh_constant,
            "a number >= 0 (0 turns clipping off)",
        )
        require(
            0 <= self.baseline_decay < 1,
            "controller.baseline_decay",
            self.baseline_decay,
            "a decay in [0, 1)",
        )
        require(
            0 < self.skip_target < 1,
            "controller.skip_target",
            self.skip_target,
            "a probability strictly between 0 and 1",
        )
        require(
            self.advantage in ADVANTAGES,
            "controller.advantage",
            self.advantage,
            f"one of {', '.join(ADVANTAGES)}",
        )
        require(self.rank_window >= 0, "controller.rank_window", self.rank_window, "an int >= 0")
        require(self.elite_size >= 0, "controller.elite_size", self.elite_size, "an int >= 0")
        require(
            self.elite_weight >= 0, "controller.elite_weight", self.elite_weight, "a number >= 0"
        )
        require(
            0 <= self.adam_beta1 < 1,
            "controller.adam_beta1",
            self.adam_beta1,
            "a number in [0, 1)",
        )
        require(
            self.update in UPDATES,
            "controller.update",
            self.update,
            f"one of {', '.join(UPDATES)}",
        )
        require(self.ppo_epochs >= 1, "controller.ppo_epochs", self.ppo_epochs, "an int >= 1")
        require(
            0 < self.ppo_clip < 1,
            "controller.ppo_clip",
            self.ppo_clip,
            "a number strictly between 0 and 1",
        )
        require(
            self.ppo_old in PPO_OLD,
            "controller.ppo_old",
            self.ppo_old,
            f"one of {', '.join(PPO_OLD)}",
        )


@dataclass
class LSTMControllerConfig(PolicyGradientConfig):
    """The LSTM controller (Zoph & Le 2017; ENAS, Pham et al. 2018); defaults `controller=lstm`."""

    name: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1

    def check(self) -> None:
        """The LSTM's size, then the policy-gradient settings."""
        require(self.hidden_size >= 1, "controller.hidden_size", self.hidden_size, "an int >= 1")
        require(self.num_layers >= 1, "controller.num_layers", self.num_layers, "an int >= 1")
        super().check()


@dataclass
class SoftmaxControllerConfig(PolicyGradientConfig):
    """One free softmax per decision, no LSTM: the NAS-Bench-201 paper's reference REINFORCE.

    Its defaults are the reference's (D-X-Y/AutoDL-Projects, exps/NAS-Bench-201-algos/
    reinforce.py): Adam lr 0.01, a bias-corrected EMA baseline with decay 0.9 that takes in each
    reward before judging it, no logit clipping, no entropy bonus and no gradient clipping.
    """

    name: str = "softmax"
    lr: float = 1e-2  # the reference's, stated so that it stays if lstm's default changes
    tanh_constant: float = 0.0
    entropy_weight: float = 0.0
    baseline_decay: float = 0.9
    baseline_first: bool = True
    baseline_debias: bool = True
    grad_clip: float = 0.0


@dataclass
class RandomControllerConfig:
    """Random search: every architecture uniformly at random."""

    name: str = "random"

    def check(self) -> None:
        """Nothing to check."""


@dataclass
class EvolutionControllerConfig:
    """Regularized evolution (Real et al. 2019): tournament selection, oldest removed."""

    name: str = "evolution"
    population: int = 50  # random children until the population is full; then the oldest dies
    sample_size: int = 25  # each parent is the best of this many random members
    # How the sample_size members are drawn: "with_replacement" (Real et al.'s Algorithm 1 and
    # the NAS-Bench-201 code: a member may be drawn twice) or "without_replacement" (distinct
    # members; with sample_size = population the parent is always the population's best).
    tournament: str = "with_replacement"
    # Which decision a mutation changes: "uniform" = any changeable decision, equally likely;
    # "grouped" = first a group of decisions the space declares (Choice.group; NAS-Bench-201:
    # the edges into one node), then a decision of it: the NAS-Bench-201 code's node-then-edge.
    mutation: str = "uniform"

    def check(self) -> None:
        """A population to select from, tournaments that fit in it, known draws."""
        require(self.population >= 2, "controller.population", self.population, "an int >= 2")
        limit = self.population if self.tournament == "without_replacement" else None
        require(
            self.sample_size >= 1 and (limit is None or self.sample_size <= limit),
            "controller.sample_size",
            self.sample_size,
            f"an int in [1, population={self.population}]" if limit else "an int >= 1",
        )
        require(
            self.tournament in TOURNAMENTS,
            "controller.tournament",
            self.tournament,
            f"one of {', '.join(TOURNAMENTS)}",
        )
        require(
            self.mutation in MUTATIONS,
            "controller.mutation",
            self.mutation,
            f"one of {', '.join(MUTATIONS)}",
        )


@dataclass
class LocalSearchControllerConfig:
    """Local search (White et al. 2020): hill climbing over one-decision neighbours, restarts.

    From a random architecture, its neighbours (every architecture with one decision answered
    differently) are evaluated in random order and the search moves to the first one that is
    better (`first_improvement`) or, once all are evaluated, to the best one if it is better.
    At a local optimum it restarts from the best of `restarts_from` new random architectures.
    """

    name: str = "local_search"
    first_improvement: bool = True  # false: evaluate the whole neighbourhood, move to its best
    restarts_from: int = 1  # random architectures a (re)start picks the best of

    def check(self) -> None:
        """At least one random architecture to start from."""
        require(
            self.restarts_from >= 1, "controller.restarts_from", self.restarts_from, "an int >= 1"
        )


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

    def check(self) -> None:
        """Adam's settings."""
        require(self.lr > 0, "controller.lr", self.lr, "a positive learning rate")
        require(0 <= self.beta1 < 1, "controller.beta1", self.beta1, "a number in [0, 1)")
        require(0 <= self.beta2 < 1, "controller.beta2", self.beta2, "a number in [0, 1)")
        require(
            self.weight_decay >= 0, "controller.weight_decay", self.weight_decay, "a number >= 0"
        )
