"""Weight sharing (ENAS): score children as paths through one supernet that this evaluator trains.

The evaluator owns the supernet, its optimizer and the order of the data; it never sees the
controller. The search loop drives it in ENAS's two phases: `begin_epoch` then one
`train_step(arch)` per training minibatch, each with an architecture the loop asked the
controller for; then `evaluate(jobs)` for each controller update, which scores every job on the
same validation minibatch with the current shared weights. `score` measures one architecture on
the whole validation split, for the final ranking (derive). DARTS (`controller=darts`) uses
`train_step_mixed` and `val_loss_mixed` instead, which run the supernet's continuous relaxation.

A child's reward is its accuracy with shared weights, a noisy and biased estimate of how it
would do trained alone: rewards change as the weights train, so nothing here is cached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from child.data.datasets import DataSplits, load_dataset
from child.evaluation.config import SharedEvaluatorConfig
from child.evaluation.costs import count_params
from child.evaluation.evaluator import ChildJob, EvaluatorDef, EvaluatorSetup
from child.evaluation.result import ChildResult
from child.evaluation.trainer import augment_batch, lr_factor, make_optimizer, resolve_device
from child.spaces import SpaceConfig, build_network, space_def
from core.architecture import Architecture
from core.errors import ConfigError
from core.supernet import Supernet, SupernetBuilder


def supernet_builder(space_cfg: SpaceConfig) -> SupernetBuilder:
    """The space's supernet builder; ConfigError saying why when it cannot share weights."""
    definition = space_def(space_cfg.name)
    if definition.supernet is None:
        raise ConfigError(
            f"evaluator=shared cannot use search_space={space_cfg.name}: "
            f"{definition.no_supernet_reason}"
        )
    return definition.supernet


class SharedEvaluator:
    """Trains one supernet in ENAS's schedule and scores architectures with its weights."""

    def __init__(
        self, cfg: SharedEvaluatorConfig, data: DataSplits, space_cfg: SpaceConfig, seed: int
    ) -> None:
        self.cfg = cfg
        self.recipe = cfg.recipe
        self.data = data
        self.space_cfg = space_cfg
        self.seed = seed
        self.device = data.train_x.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the supernet's initial weights depend on the run seed only
            self.net: Supernet = supernet_builder(space_cfg)(
                space_cfg, data.input_shape, data.num_classes
            ).to(self.device)
        self.optimizer = make_optimizer(self.net.parameters(), self.recipe)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.steps_per_epoch = math.ceil(len(data.train_y) / self.recipe.batch_size)
        self.generator = torch.Generator(device="cpu")
        self.epoch = 0
        self.order = torch.arange(len(data.train_y))
        self.position = 0
        self.val_order = torch.arange(len(data.val_y))
        self.val_position = 0
        self.val_updates = 0
        self._param_counts: dict[Architecture, int] = {}

    # --- the training phase --------------------------------------------------------------

    def begin_epoch(self, epoch: int) -> int:
        """Shuffle the training split for `epoch`; return how many `train_step`s it has."""
        self.epoch = epoch
        # One generator per epoch, seeded by (run seed, epoch): a resumed run repeats it exactly.
        self.generator.manual_seed(
            int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        )
        self.order = torch.randperm(len(self.data.train_y), generator=self.generator)
        self.position = 0
        # DARTS's validation batches, in an order of their own: ENAS's draws stay as they were.
        val_seed = np.random.SeedSequence([self.seed, epoch, 1]).generate_state(1)[0]
        val_generator = torch.Generator(device="cpu").manual_seed(int(val_seed))
        self.val_order = torch.randperm(len(self.data.val_y), generator=val_generator)
        self.val_position = 0
        return self.steps_per_epoch

    def train_step(self, arch: Architecture) -> tuple[float, float]:
        """One SGD step of the shared weights along `arch` on the next minibatch; (loss, acc)."""
        return self._train_step(lambda x: self.net(x, arch))

    def train_step_mixed(self, weights: Mapping[str, torch.Tensor]) -> tuple[float, float]:
        """One SGD step of the shared weights through DARTS's mixture `weights`; (loss, acc)."""
        fixed = {name: w.detach() for name, w in weights.items()}  # a weight step only
        return self._train_step(lambda x: self.net.forward_mixed(x, fixed))

    def _train_step(self, forward: Callable[[torch.Tensor], torch.Tensor]) -> tuple[float, float]:
        step = self.epoch * self.steps_per_epoch + self.position
        total = self.recipe.epochs * self.steps_per_epoch
        warmup = self.recipe.warmup_epochs * self.steps_per_epoch
        factor = lr_factor(step, total, warmup, self.recipe.schedule)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        index = self.order[
            self.position * self.recipe.batch_size : (self.position + 1) * self.recipe.batch_size
        ].to(self.device)
        self.position += 1
        x, y = self.data.train_x[index], self.data.train_y[index]
        if self.recipe.augment:
            x = augment_batch(x, self.generator, self.data.hflip)
        self.net.train()
        logits = forward(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.recipe.grad_clip)
        self.optimizer.step()
        accuracy = (logits.argmax(1) == y).float().mean().item()
        return loss.item(), accuracy

    # --- the controller phase ------------------------------------------------------------

    def evaluate(self, jobs: Sequence[ChildJob]) -> Iterator[ChildResult]:
        """Score every job on one validation minibatch (the next in turn), shared weights."""
        n_val = len(self.data.val_y)
        size = min(self.cfg.val_batch_size, n_val)
        start = (self.val_updates * size) % n_val
        index = ((torch.arange(size) + start) % n_val).to(self.device)
        self.val_updates += 1
        x, y = self.data.val_x[index], self.data.val_y[index]
        for job in jobs:
            tick = time.perf_counter()
            acc = self._accuracy(job.arch, x, y)
            yield ChildResult(
                index=job.index,
                arch=job.arch,
                reward=acc,
                val_acc=acc,
                params=self.params(job.arch),
                seconds=time.perf_counter() - tick,
                val_curve=(acc,),
            )

    def val_loss_mixed(self, weights: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
        """DARTS's loss on the next validation minibatch through `weights`, with its graph; acc.

        The minibatch has the training batch size, as in DARTS, and walks a per-epoch shuffle of
        the validation split (wrapping round when an epoch has more steps than it has batches).
        """
        n_val = len(self.data.val_y)
        size = min(self.recipe.batch_size, n_val)
        positions = (torch.arange(size) + self.val_position * size) % n_val
        index = self.val_order[positions].to(self.device)
        self.val_position += 1
        x, y = self.data.val_x[index], self.data.val_y[index]
        self.net.train()  # BatchNorm uses batch statistics either way (shared_weights.py)
        logits = self.net.forward_mixed(x, weights)
        loss = F.cross_entropy(logits, y)
        return loss, (logits.argmax(1) == y).float().mean().item()

    def score(self, arch: Architecture) -> float:
        """Accuracy of `arch` on the whole validation split with the shared weights."""
        return self._accuracy(arch, self.data.val_x, self.data.val_y)

    @torch.no_grad()
    def _accuracy(self, arch: Architecture, x: torch.Tensor, y: torch.Tensor) -> float:
        self.net.eval()  # BatchNorm uses batch statistics either way (shared_weights.py)
        correct = 0
        batch = max(self.cfg.val_batch_size, 1)
        for start in range(0, len(y), batch):
            logits = self.net(x[start : start + batch], arch)
            correct += int((logits.argmax(1) == y[start : start + batch]).sum())
        return correct / max(1, len(y))

    def params(self, arch: Architecture) -> int:
        """The parameter count of `arch` trained alone (what retraining it would build)."""
        if arch not in self._param_counts:
            net = build_network(arch, self.data.input_shape, self.data.num_classes, self.space_cfg)
            self._param_counts[arch] = count_params(net)
        return self._param_counts[arch]

    # --- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Shared weights, optimizer, data order and position: enough to continue exactly."""
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "val_updates": self.val_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved at an epoch boundary."""
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.val_updates = int(state["val_updates"])

    def close(self) -> None:
        """Nothing to release."""


def build_shared(setup: EvaluatorSetup) -> tuple[SharedEvaluator, DataSplits]:
    """The supernet's evaluator, with the data on the recipe's device."""
    data = load_dataset(setup.dataset, setup.seed).to(resolve_device(setup.child.device))
    return SharedEvaluator(setup.evaluator, data, setup.space, setup.seed), data


EVALUATOR = EvaluatorDef(name="shared", config=SharedEvaluatorConfig, build=build_shared)
