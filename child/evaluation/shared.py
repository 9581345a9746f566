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

Ways of training the weights (SharedEvaluatorConfig; docs/methods.md, "Weight sharing"):
`sampling=fair` and `sampling=sandwich` train more paths per minibatch around the proposed one
(`training_paths`), `few_shot_split` routes each architecture to its own sub-supernet after a
warm-up (`_net_for`), `width_weights=separate` gives every width its own weights (the space's
supernet builder takes it). With a controller, the proposed path is always among those trained:
the extra paths only add coverage, they never replace what the controller asked for.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
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
from child.spaces import SpaceConfig, build_network, build_space, space_def
from core.architecture import Architecture, Layer
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


def check_shared_space(cfg: SharedEvaluatorConfig, space_cfg: SpaceConfig) -> None:
    """ConfigError, in one line, when the training settings of `cfg` do not fit the space."""
    builder = supernet_builder(space_cfg)
    space = build_space(space_cfg)
    name = space_cfg.name
    if cfg.width_weights != "slice" and (
        "width_weights" not in inspect.signature(builder).parameters
    ):
        raise ConfigError(
            f"evaluator.width_weights={cfg.width_weights!r} is invalid with "
            f"search_space={name}: expected slice (its supernet has one set of weights per op)"
        )
    if cfg.sampling == "fair" and not isinstance(getattr(space, "ops", None), tuple):
        raise ConfigError(
            f"evaluator.sampling='fair' is invalid with search_space={name}: expected a space "
            "whose layers each pick one of its `ops` (macro, nb201)"
        )
    if cfg.sampling == "sandwich" and not isinstance(getattr(space, "widths", None), tuple):
        raise ConfigError(
            f"evaluator.sampling='sandwich' is invalid with search_space={name}: expected a "
            "space with widths (macro)"
        )
    if cfg.few_shot_split:
        layer, key = _split_decision(cfg.few_shot_split)
        layers = getattr(space, "num_layers", None)
        if layers is None or layer >= layers:
            raise ConfigError(
                f"evaluator.few_shot_split={cfg.few_shot_split!r} is invalid with "
                f"search_space={name}: expected layer<i> with i < its {layers} layers"
            )
        sample = space.sample(np.random.default_rng(0))
        if key != "op" and sample.layers[layer].param(key) is None:
            raise ConfigError(
                f"evaluator.few_shot_split={cfg.few_shot_split!r} is invalid with "
                f"search_space={name}: expected layer{layer}.op or one of its layer's "
                f"params ({', '.join(k for k, _ in sample.layers[layer].params) or 'none'})"
            )


def _split_decision(split: str) -> tuple[int, str]:
    """("layer3.width") → (3, "width")."""
    match = re.fullmatch(r"layer(\d+)\.(\w+)", split)
    assert match is not None, split  # the config's check() refused anything else
    return int(match.group(1)), match.group(2)


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
        check_shared_space(cfg, space_cfg)
        self.space = build_space(space_cfg)
        builder = supernet_builder(space_cfg)
        options = {} if cfg.width_weights == "slice" else {"width_weights": cfg.width_weights}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the supernet's initial weights depend on the run seed only
            self.net: Supernet = builder(
                space_cfg, data.input_shape, data.num_classes, **options
            ).to(self.device)
        self.optimizer = make_optimizer(self.net.parameters(), self.recipe)
        # Few-shot: sub-supernets by the value of the split decision, made once split.
        self.split = _split_decision(cfg.few_shot_split) if cfg.few_shot_split else None
        self.subnets: dict[str, tuple[Supernet, torch.optim.Optimizer]] = {}
        self.path_rng = np.random.default_rng(seed)
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
        # The extra paths of fair and sandwich sampling, in an order of their own as well.
        self.path_rng = np.random.default_rng([self.seed, epoch, 2])
        return self.steps_per_epoch

    @property
    def is_split(self) -> bool:
        """Whether few-shot training has split the supernet (from `few_shot_warmup` on)."""
        return self.split is not None and self.epoch >= self.cfg.few_shot_warmup

    def split_key(self, arch: Architecture) -> str:
        """The value of the few-shot split decision in `arch`: the name of its sub-supernet."""
        assert self.split is not None
        layer, key = self.split
        value = arch.layers[layer].op if key == "op" else arch.layers[layer].param(key)
        return str(value)

    def _net_for(self, arch: Architecture) -> tuple[Supernet, torch.optim.Optimizer]:
        """The (sub-)supernet that trains and scores `arch`, and its optimizer.

        A sub-supernet is made on first use as a copy of the whole supernet, weights and
        optimizer state: the whole one stops training at the split, so every copy, whenever
        made, starts from the same weights (Zhao et al. 2021's inheritance).
        """
        if not self.is_split:
            return self.net, self.optimizer
        key = self.split_key(arch)
        if key not in self.subnets:
            net = copy.deepcopy(self.net)
            optimizer = make_optimizer(net.parameters(), self.recipe)
            optimizer.load_state_dict(self.optimizer.state_dict())
            self.subnets[key] = (net, optimizer)
        return self.subnets[key]

    def training_paths(self, arch: Architecture) -> list[Architecture]:
        """The paths one minibatch trains for the proposed `arch` (`sampling`); `arch` first."""
        if self.cfg.sampling == "fair":
            return [arch, *self._fair_complement(arch)]
        if self.cfg.sampling == "sandwich":
            return [arch, *(self._at_width(arch, pick(self.space.widths)) for pick in (max, min))]
        return [arch]

    def _fair_complement(self, arch: Architecture) -> list[Architecture]:
        """m-1 paths that, with `arch`, pick every op of every layer once (FairNAS)."""
        ops = tuple(self.space.ops)
        rest = [
            self.path_rng.permutation([op for op in ops if op != layer.op]).tolist()
            for layer in arch.layers
        ]
        paths = []
        for k in range(len(ops) - 1):
            other = self.space.sample(self.path_rng)  # widths and inputs uniformly at random
            layers = tuple(
                Layer(rest[i][k], lay.params, lay.inputs) for i, lay in enumerate(other.layers)
            )
            paths.append(Architecture(arch.space, layers))
        return paths

    @staticmethod
    def _at_width(arch: Architecture, width: int) -> Architecture:
        """`arch` with every layer at `width` (its other decisions kept)."""
        layers = tuple(
            Layer(
                layer.op,
                tuple((k, width if k == "width" else v) for k, v in layer.params),
                layer.inputs,
            )
            for layer in arch.layers
        )
        return Architecture(arch.space, layers)

    def train_step(self, arch: Architecture) -> tuple[float, float]:
        """One SGD step of the shared weights along `arch` on the next minibatch; (loss, acc).

        With fair or sandwich sampling the step sums the gradients of every path of
        `training_paths(arch)` on the same minibatch; loss and accuracy are `arch`'s.
        """
        net, optimizer = self._net_for(arch)
        paths = self.training_paths(arch)
        return self._train_step(lambda x, k: net(x, paths[k]), net, optimizer, len(paths))

    def train_step_mixed(self, weights: Mapping[str, torch.Tensor]) -> tuple[float, float]:
        """One SGD step of the shared weights through DARTS's mixture `weights`; (loss, acc)."""
        refusal = self.cfg.darts_refusal()
        if refusal is not None:
            raise ConfigError(refusal)
        fixed = {name: w.detach() for name, w in weights.items()}  # a weight step only
        return self._train_step(
            lambda x, _: self.net.forward_mixed(x, fixed), self.net, self.optimizer, 1
        )

    def _train_step(
        self,
        forward: Callable[[torch.Tensor, int], torch.Tensor],
        net: Supernet,
        optimizer: torch.optim.Optimizer,
        paths: int,
    ) -> tuple[float, float]:
        step = self.epoch * self.steps_per_epoch + self.position
        total = self.recipe.epochs * self.steps_per_epoch
        warmup = self.recipe.warmup_epochs * self.steps_per_epoch
        factor = lr_factor(step, total, warmup, self.recipe.schedule)
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        index = self.order[
            self.position * self.recipe.batch_size : (self.position + 1) * self.recipe.batch_size
        ].to(self.device)
        self.position += 1
        x, y = self.data.train_x[index], self.data.train_y[index]
        if self.recipe.augment:
            x = augment_batch(x, self.generator, self.data.hflip)
        net.train()
        optimizer.zero_grad(set_to_none=True)
        for k in range(paths):  # FairNAS accumulates the paths' gradients into one update
            logits = forward(x, k)
            loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
            loss.backward()
            if k == 0:
                first_loss, accuracy = loss.item(), (logits.argmax(1) == y).float().mean().item()
        if self.recipe.grad_clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), self.recipe.grad_clip)
        optimizer.step()
        return first_loss, accuracy

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

    def score_with_loss(self, arch: Architecture) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) of `arch` on the whole validation split."""
        return self._measure(arch, self.data.val_x, self.data.val_y)

    def _accuracy(self, arch: Architecture, x: torch.Tensor, y: torch.Tensor) -> float:
        return self._measure(arch, x, y)[0]

    @torch.no_grad()
    def _measure(self, arch: Architecture, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        net, _ = self._net_for(arch)
        net.eval()  # BatchNorm uses batch statistics either way (shared_weights.py)
        correct, loss = 0, 0.0
        batch = max(self.cfg.val_batch_size, 1)
        for start in range(0, len(y), batch):
            logits = net(x[start : start + batch], arch)
            target = y[start : start + batch]
            correct += int((logits.argmax(1) == target).sum())
            loss += float(F.cross_entropy(logits, target, reduction="sum"))
        return correct / max(1, len(y)), loss / max(1, len(y))

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
            "subnets": {
                key: {"net": net.state_dict(), "optimizer": optimizer.state_dict()}
                for key, (net, optimizer) in self.subnets.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved at an epoch boundary."""
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.val_updates = int(state["val_updates"])
        self.subnets = {}
        for key, sub in state.get("subnets", {}).items():
            net = copy.deepcopy(self.net)
            net.load_state_dict(sub["net"])
            optimizer = make_optimizer(net.parameters(), self.recipe)
            optimizer.load_state_dict(sub["optimizer"])
            self.subnets[key] = (net, optimizer)

    def close(self) -> None:
        """Nothing to release."""


def build_shared(setup: EvaluatorSetup) -> tuple[SharedEvaluator, DataSplits]:
    """The supernet's evaluator, with the data on the recipe's device."""
    data = load_dataset(setup.dataset, setup.seed).to(resolve_device(setup.child.device))
    return SharedEvaluator(setup.evaluator, data, setup.space, setup.seed), data


EVALUATOR = EvaluatorDef(name="shared", config=SharedEvaluatorConfig, build=build_shared)
