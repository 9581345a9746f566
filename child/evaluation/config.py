"""Typed configs of the child half: the training recipe and the evaluators; how one is declared.

These dataclasses are the Hydra schemas (registered in `app.config`) and also the
objects the code runs on: `OmegaConf.to_object` turns a validated config into instances.
Their defaults are the only ones: the YAML files in conf/ state only what a preset changes.
Each evaluator config checks its own settings (`check()`); each evaluator module declares
itself with an `EvaluatorDef` (found by `child.evaluation.registry`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from core.errors import require


@dataclass
class ChildConfig:
    """The recipe every child is trained with: by default the short search recipe.

    `child=final` (conf/child/final.yaml) is the longer retraining recipe.
    """

    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.05
    momentum: float = 0.9  # SGD momentum, in [0, 1)
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | constant | step
    warmup_epochs: int = 0
    label_smoothing: float = 0.0  # in [0, 1)
    grad_clip: float = 5.0  # max gradient norm; 0 turns clipping off
    augment: bool = False  # random crop + flip, images only
    eval_batch_size: int = 1024
    device: str = "auto"  # auto = CUDA when available, else CPU; or cpu, cuda, cuda:1, ...
    # torch CPU threads per child. Part of the recipe: kernels split their sums by thread, so
    # another count changes the last bits of a child's weights. 0 = torch's default (all cores).
    threads: int = 1
    # fp32 | bf16 | auto (bf16 autocast on GPUs with native bf16, else fp32). fp32 by default: on
    # an H200, bf16 trained this project's small children 10-20% slower than fp32 (which already
    # uses TF32 tensor cores for convs); see BENCHMARKS.md. Try auto for wide children.
    precision: str = "fp32"
    compile: bool = False  # torch.compile each child; the first step pays the compile time


@dataclass
class LocalEvaluatorConfig:
    """Train children on this machine: one per worker process, or in the search process."""

    name: str = "local"
    # Worker processes, each training one child at a time with child.threads threads. null: one
    # per CPU core (on a GPU: 1; set more to share the GPU among several small children).
    # 1: train in the search process itself, one child after another.
    workers: int | None = None
    max_retries: int = 2  # a child whose worker died is trained again, then recorded as failed

    def check(self) -> None:
        """Workers and retries must be counts."""
        workers, retries = self.workers, self.max_retries
        require(workers is None or workers >= 1, "evaluator.workers", workers, "null or >= 1")
        require(retries >= 0, "evaluator.max_retries", retries, "an int >= 0")


@dataclass
class RayEvaluatorConfig:
    """Train each step's children concurrently as Ray tasks (locally or on a cluster)."""

    name: str = "ray"
    address: str | None = None  # null: start a local Ray instance; "auto" or ray://host:port: join
    num_cpus: int | None = None  # CPUs of a local instance (null: all cores)
    cpus_per_child: float = 1.0  # Ray resources per child (fractions allowed)
    gpus_per_child: float = 0.0  # e.g. 0.25 packs four children on one GPU
    max_retries: int = 2  # a dead worker or a raising task is retried, then recorded as failed

    def check(self) -> None:
        """Raise ConfigError for resources or retries that cannot work.

        For a local instance (no `address`) a child must fit on it: Ray would otherwise wait
        forever for a worker that can never start. A cluster's size is checked once joined.
        """
        require(self.cpus_per_child > 0, "evaluator.cpus_per_child", self.cpus_per_child, "> 0")
        require(self.gpus_per_child >= 0, "evaluator.gpus_per_child", self.gpus_per_child, ">= 0")
        require(self.max_retries >= 0, "evaluator.max_retries", self.max_retries, "an int >= 0")
        require(
            self.num_cpus is None or self.num_cpus >= 1,
            "evaluator.num_cpus",
            self.num_cpus,
            "null (all cores) or an int >= 1",
        )
        if self.address is None:
            import torch  # only to count this machine's GPUs; composing a config needs no torch

            self.require_fits(self.num_cpus or os.cpu_count() or 1, torch.cuda.device_count())

    def require_fits(self, cpus: float, gpus: float) -> None:
        """Raise ConfigError unless one child fits on `cpus` CPUs and `gpus` GPUs."""
        require(
            self.cpus_per_child <= cpus,
            "evaluator.cpus_per_child",
            self.cpus_per_child,
            f"at most the {cpus:g} CPUs Ray has (evaluator.num_cpus={self.num_cpus})",
        )
        require(
            self.gpus_per_child <= gpus,
            "evaluator.gpus_per_child",
            self.gpus_per_child,
            f"at most the {gpus:g} GPUs Ray has",
        )


def _shared_recipe() -> ChildConfig:
    # ENAS's macro search trained its shared weights with SGD (Nesterov), lr 0.05 on a cosine
    # schedule, L2 2.5e-4 and gradient clipping; 20 epochs here fit a CPU in minutes.
    return ChildConfig(epochs=20, lr=0.05, weight_decay=2.5e-4, grad_clip=5.0)


@dataclass
class SharedEvaluatorConfig:
    """Weight sharing (ENAS, Pham et al. 2018): children are paths through one supernet.

    Each epoch trains the shared weights for one pass over the training split, with a fresh
    architecture from the controller for every minibatch, then makes `controller_steps`
    controller updates, each scoring `budget.batch` children on one validation minibatch of
    `val_batch_size`. The budget is `recipe.epochs`. At the end `derive_samples` sampled
    architectures and the controller's greedy pick are scored on the whole validation split,
    and ranked by `derive_by` (their loss, or their accuracy), with `derive_prior` by the mean
    of that rank and a zero-cost proxy's.
    With `controller=darts` every minibatch also takes an architecture step on a validation
    minibatch of the recipe's batch size (as in DARTS), and only the argmax is derived:
    `controller_steps` and `derive_samples` are not used, `val_batch_size` only chunks scoring.

    How the shared weights train (docs/methods.md, "Weight sharing"; measured in
    benchmarks/shared_ranking.py): `sampling` says which paths each minibatch trains besides
    the proposed architecture, `few_shot_split` splits the supernet into sub-supernets after
    `few_shot_warmup` epochs, `width_weights` says whether widths slice one tensor or own one.
    DARTS trains every path at once, so it takes only the defaults of these four.
    """

    name: str = "shared"
    # The supernet's training recipe; its epochs are the search's budget.
    recipe: ChildConfig = field(default_factory=_shared_recipe)
    controller_steps: int = 10  # controller updates after each epoch of shared training
    val_batch_size: int = 256  # the validation minibatch that scores one update's children
    derive_samples: int = 100  # architectures sampled and ranked at the end (+ the greedy one)
    # What derive ranks the candidates by, on the whole validation split with the shared
    # weights: loss (lowest mean cross-entropy first) or accuracy (ENAS). The loss keeps the
    # margins that accuracies of near-equal children round away; it ranked closer to training
    # alone on every space and seed measured (BENCHMARKS.md section 14).
    derive_by: str = "loss"
    # A prior for derive: "" (none) or a zero-cost proxy (snip, params, snip+params, ...) scored
    # at initialisation; each candidate is then ranked by the mean of its rank by `derive_by`
    # and its rank by the proxy (a supernet score with a prior, BENCHMARKS.md section 14).
    derive_prior: str = ""
    derive_prior_batch_size: int = 16  # the prior's training minibatch (data-reading proxies)
    # Warn when more than this share of the sampled layers (edges) are parameter-free ops
    # (pool, identity, skip, none): the collapse weight sharing is known for.
    param_free_warning: float = 0.5
    # single: each minibatch trains the proposed architecture's path only (ENAS).
    # fair: FairNAS's strict fairness: the proposed path plus m-1 paths whose ops, layer by
    #   layer, are a random permutation of the ops it did not pick (m = number of ops; their
    #   other decisions drawn uniformly); the m gradients are summed into one update, so every
    #   op of every layer trains exactly once per minibatch. m times the cost of a step.
    # sandwich: the proposed path plus the same path at every layer's largest and at its
    #   smallest width (BigNAS's sandwich rule), summed into one update. 3 times the cost.
    sampling: str = "single"
    # Few-shot NAS (Zhao et al. 2021): "" (off) or a decision "layer<i>.op" / "layer<i>.<param>"
    # (e.g. layer3.width). After `few_shot_warmup` epochs the supernet is copied, weights and
    # optimizer state, into one sub-supernet per value of that decision; from then on an
    # architecture trains and is scored in the sub-supernet of its value.
    few_shot_split: str = ""
    few_shot_warmup: int = 10  # epochs of the whole supernet before it splits
    # slice: narrower widths run on the leading channels of one tensor per (layer, op) (ENAS);
    # separate: one tensor per (layer, op, width), and per width of the classifier.
    width_weights: str = "slice"

    def darts_refusal(self) -> str | None:
        """Why DARTS (controller=darts) cannot train with these settings; None when it can."""
        for key, value, default in (
            ("sampling", self.sampling, "single"),
            ("few_shot_split", self.few_shot_split, ""),
            ("width_weights", self.width_weights, "slice"),
        ):
            if value != default:
                return (
                    f"controller=darts trains every path at once through one relaxation: "
                    f"evaluator.{key}={value!r} needs sampled paths (use {default!r})"
                )
        if self.derive_prior:
            return (
                f"evaluator.derive_prior={self.derive_prior!r} is invalid with controller=darts: "
                "expected '' (DARTS derives one architecture, the argmax: there is no ranking "
                "for a prior to reorder)"
            )
        return None

    def check(self) -> None:
        """Its own settings (its recipe is checked with the trainer's `check_recipe`)."""
        require(
            self.controller_steps >= 1, "evaluator.controller_steps", self.controller_steps, ">= 1"
        )
        require(self.val_batch_size >= 1, "evaluator.val_batch_size", self.val_batch_size, ">= 1")
        require(self.derive_samples >= 0, "evaluator.derive_samples", self.derive_samples, ">= 0")
        require(
            0 <= self.param_free_warning <= 1,
            "evaluator.param_free_warning",
            self.param_free_warning,
            "a share in [0, 1]",
        )
        require(
            self.sampling in SHARED_SAMPLINGS,
            "evaluator.sampling",
            self.sampling,
            f"one of {', '.join(SHARED_SAMPLINGS)}",
        )
        require(
            self.derive_prior_batch_size >= 2,
            "evaluator.derive_prior_batch_size",
            self.derive_prior_batch_size,
            "an int >= 2",
        )
        require(
            self.derive_by in DERIVE_BY,
            "evaluator.derive_by",
            self.derive_by,
            f"one of {', '.join(DERIVE_BY)}",
        )
        require(
            self.width_weights in ("slice", "separate"),
            "evaluator.width_weights",
            self.width_weights,
            "slice or separate",
        )
        if self.few_shot_split:
            require(
                re.fullmatch(r"layer\d+\.\w+", self.few_shot_split) is not None,
                "evaluator.few_shot_split",
                self.few_shot_split,
                '"" (off) or a decision such as layer0.op or layer3.width',
            )
            require(
                0 <= self.few_shot_warmup < self.recipe.epochs,
                "evaluator.few_shot_warmup",
                self.few_shot_warmup,
                f"an epoch count in [0, evaluator.recipe.epochs={self.recipe.epochs})",
            )


SHARED_SAMPLINGS = ("single", "fair", "sandwich")
DERIVE_BY = ("loss", "accuracy")


@dataclass
class TableEvaluatorConfig:
    """Look children up in a CSV table (`child.evaluation.table`); `path` None: the bundled one.

    The defaults follow the NAS-Bench-201 paper's protocol: the reward is the 12-epoch CIFAR-10
    validation accuracy, and every child's 200-epoch test accuracies on CIFAR-10, CIFAR-100 and
    ImageNet16-120 are looked up beside it, to report the found cell. A `value_column` that is a
    test column makes the search an oracle one (`evaluator=table_oracle`), labelled so.
    """

    name: str = "table"
    path: str | None = None  # a CSV file; null = the bundled child/spaces/nb201/tables/nb201.csv
    arch_column: str = "arch"  # architectures as the space prints them (|op~0|+|op~0|op~1|+...)
    value_column: str = "cifar10_valid_12ep"  # the accuracy the reward is computed from
    # Looked up for every child and reported as the found cell's results, never learned from.
    report_columns: list[str] = field(
        default_factory=lambda: [
            "cifar10_test_200ep",
            "cifar100_test_200ep",
            "imagenet16_test_200ep",
        ]
    )
    scale: float = 0.01  # multiplies the value and report columns: percent -> fraction

    def check(self) -> None:
        """Nothing to check before reading: the table itself checks its path and columns."""

    @property
    def value_label(self) -> str:
        """What a child's `val_acc` holds: the table's value column."""
        return self.value_column
