"""Train one network on tensors already on its device, following a `ChildConfig` recipe."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from child.config import ChildConfig
from child.data import DataSplits
from child.errors import ConfigError, require

OPTIMIZERS = ("sgd", "adam", "adamw")
EpochHook = Callable[[int, float, float | None], None]
SCHEDULES = ("cosine", "constant", "step")


@dataclass
class TrainOutcome:
    """Validation accuracy after each of the last epochs, optional test accuracy, time, status."""

    val_curve: list[float] = field(default_factory=list)
    test_acc: float | None = None
    seconds: float = 0.0
    status: str = "ok"
    message: str = ""


def check_recipe(cfg: ChildConfig) -> None:
    """Raise ConfigError unless the recipe's names and numbers make sense."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"child.optimizer={cfg.optimizer!r} is unknown: expected {OPTIMIZERS}")
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"child.schedule={cfg.schedule!r} is unknown: expected {SCHEDULES}")
    require(cfg.epochs >= 1, "child.epochs", cfg.epochs, "an int >= 1")
    require(cfg.batch_size >= 1, "child.batch_size", cfg.batch_size, "an int >= 1")
    require(cfg.lr > 0, "child.lr", cfg.lr, "a positive learning rate")
    require(
        0 <= cfg.warmup_epochs < cfg.epochs,
        "child.warmup_epochs",
        cfg.warmup_epochs,
        "0 <= warmup_epochs < epochs",
    )


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Use `threads` CPU threads inside the block (0 keeps torch's default), then restore."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"child.device={name!r} but CUDA is not available: use auto or cpu")
    return device


def make_optimizer(params, cfg: ChildConfig) -> torch.optim.Optimizer:
    """The optimizer the recipe names."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Learning-rate multiplier at optimizer step `step` of `total` (linear warm-up first)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return 0.1 ** int(progress * 3)  # ×0.1 at one third and two thirds of training
    return 1.0


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Top-1 accuracy of `net` in eval mode."""
    net.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for start in range(0, len(y), batch_size):
        logits = net(x[start : start + batch_size])
        correct += (logits.argmax(dim=1) == y[start : start + batch_size]).sum()
    return correct.item() / max(1, len(y))


def augment_batch(x: torch.Tensor, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """Random crop with zero padding (H/8, so 4 for 32×32) and, if `flip`, horizontal flips.

    Only image batches (N, C, H, W) are augmented; 1-D signals pass unchanged.
    """
    if x.ndim != 4:
        return x
    n, _, h, w = x.shape
    if flip:
        flips = torch.rand(n, generator=generator, device=x.device) < 0.5
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=generator, device=x.device).tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def train(
    net: nn.Module,
    data: DataSplits,
    cfg: ChildConfig,
    seed: int,
    validate_last: int = 1,
    evaluate_test: bool = False,
    on_epoch: EpochHook | None = None,
) -> TrainOutcome:
    """Train `net` on `data` (already on the net's device); never raises for a failing child.

    A loss that turns NaN or infinite gives status "diverged", CUDA running out of memory gives
    "oom" and any other runtime error "error"; the message says what happened. `on_epoch`, if
    given, is called after every epoch with the epoch number (from 1), the mean training loss
    and the validation accuracy (None for epochs that were not validated).
    """
    device = data.train_x.device
    start = time.perf_counter()
    outcome = TrainOutcome()
    try:
        _fit(net, data, cfg, seed, validate_last, outcome, on_epoch)
        if outcome.status == "ok" and evaluate_test:
            outcome.test_acc = accuracy(net, data.test_x, data.test_y, cfg.eval_batch_size)
    except torch.cuda.OutOfMemoryError as err:
        outcome.status, outcome.message = "oom", _first_line(err)
        torch.cuda.empty_cache()
    except Exception as err:  # a shape error or any other failure ends this child only
        outcome.status, outcome.message = "error", _first_line(err)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _fit(
    net: nn.Module,
    data: DataSplits,
    cfg: ChildConfig,
    seed: int,
    validate_last: int,
    outcome: TrainOutcome,
    on_epoch: EpochHook | None,
) -> None:
    device = data.train_x.device
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = make_optimizer(net.parameters(), cfg)
    n = len(data.train_y)
    batch_size = min(cfg.batch_size, n)
    steps_per_epoch = n // batch_size  # full batches only: BatchNorm dislikes a batch of one
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, cfg.schedule)
    )
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=generator, device=device)
        finite = torch.ones((), dtype=torch.bool, device=device)
        loss_sum = torch.zeros((), device=device)
        for k in range(steps_per_epoch):
            idx = order[k * batch_size : (k + 1) * batch_size]
            x = data.train_x[idx]
            if cfg.augment:
                x = augment_batch(x, generator, flip=data.hflip)
            loss = F.cross_entropy(net(x), data.train_y[idx], label_smoothing=cfg.label_smoothing)
            # Checked once per epoch: a per-step .item() would stall a GPU.
            finite &= torch.isfinite(loss)
            loss_sum += loss.detach()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
        if not bool(finite):
            outcome.status = "diverged"
            outcome.message = f"non-finite training loss in epoch {epoch + 1}"
            return
        val_acc = None
        if epoch >= cfg.epochs - validate_last:
            val_acc = accuracy(net, data.val_x, data.val_y, cfg.eval_batch_size)
            outcome.val_curve.append(val_acc)
        if on_epoch is not None:
            on_epoch(epoch + 1, loss_sum.item() / steps_per_epoch, val_acc)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
