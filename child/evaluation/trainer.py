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

from child.data.datasets import DataSplits
from child.evaluation.config import ChildConfig
from child.evaluation.metrics import confusion_matrix, metrics_from_confusion
from child.evaluation.result import Status
from core.errors import ConfigError, require

OPTIMIZERS = ("sgd", "adam", "adamw")
EpochHook = Callable[[int, float, float | None], None]
Forward = Callable[[torch.Tensor], torch.Tensor]
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, y) → loss
SCHEDULES = ("cosine", "constant", "step")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainOutcome:
    """The validation metric after each of the last epochs, optional test accuracy, time, status.

    `val_curve` holds the metric the reward is computed from (accuracy by default);
    `val_metrics` every metric of `child.evaluation.metrics.METRICS` after the last validated epoch.
    """

    val_curve: list[float] = field(default_factory=list)
    val_metrics: dict[str, float] = field(default_factory=dict)
    test_acc: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)  # with evaluate_test
    seconds: float = 0.0
    status: str = Status.OK
    message: str = ""
    compile_seconds: float | None = None  # with torch.compile: first step, compiling included


def check_recipe(cfg: ChildConfig, key: str = "child") -> None:
    """Raise ConfigError unless the recipe's names and numbers make sense."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"{key}.optimizer={cfg.optimizer!r} is unknown: expected {OPTIMIZERS}")
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"{key}.schedule={cfg.schedule!r} is unknown: expected {SCHEDULES}")
    _check_precision(cfg.precision)
    require(isinstance(cfg.compile, bool), f"{key}.compile", cfg.compile, "true or false")
    require(cfg.epochs >= 1, f"{key}.epochs", cfg.epochs, "an int >= 1")
    require(cfg.batch_size >= 1, f"{key}.batch_size", cfg.batch_size, "an int >= 1")
    require(cfg.eval_batch_size >= 1, f"{key}.eval_batch_size", cfg.eval_batch_size, ">= 1")
    require(cfg.lr > 0, f"{key}.lr", cfg.lr, "a positive learning rate")
    require(0 <= cfg.momentum < 1, f"{key}.momentum", cfg.momentum, "a number in [0, 1)")
    require(cfg.weight_decay >= 0, f"{key}.weight_decay", cfg.weight_decay, "a number >= 0")
    require(
        0 <= cfg.label_smoothing < 1,
        f"{key}.label_smoothing",
        cfg.label_smoothing,
        "a number in [0, 1)",
    )
    require(
        cfg.grad_clip >= 0,
        f"{key}.grad_clip",
        cfg.grad_clip,
        "a max gradient norm > 0, or 0 for no clipping",
    )
    require(cfg.threads >= 0, f"{key}.threads", cfg.threads, "an int >= 0 (0: torch's default)")
    resolve_device(cfg.device)
    require(
        0 <= cfg.warmup_epochs < cfg.epochs,
        f"{key}.warmup_epochs",
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
    """`auto` → CUDA when available, else CPU; `cpu`, `cuda` or `cuda:N` as named.

    Raises ConfigError for any other name, and for a CUDA device this machine does not have.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"child.device={name!r} is invalid: expected auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"child.device={name!r} but CUDA is not available: use auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(
            f"child.device={name!r} is invalid: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"child.precision={precision!r} is unknown: expected {PRECISIONS}")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype `child.precision` autocasts to on `device`; None means plain fp32, no autocast.

    `auto` is bf16 on CUDA devices with native bf16 and fp32 elsewhere, CPUs included; `bf16`
    autocasts on any device, a CPU too. bf16 needs no loss scaling: its range is fp32's.
    """
    _check_precision(precision)
    if precision == "bf16" or (precision == "auto" and _native_bf16(device)):
        return torch.bfloat16
    return None


def _native_bf16(device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    with torch.cuda.device(device):
        # Emulated bf16 (before Ampere) would be slower than the fp32 it replaces.
        return torch.cuda.is_bf16_supported(including_emulation=False)


@dataclass(frozen=True)
class DevicePlan:
    """How a child runs on its device: autocast dtype (None: fp32), memory format, compile."""

    autocast: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False


def device_plan(cfg: ChildConfig, device: torch.device, input_ndim: int) -> DevicePlan:
    """The plan for `cfg` on `device`, for batches of `input_ndim` dimensions (4 for images)."""
    return DevicePlan(
        autocast=autocast_dtype(cfg.precision, device),
        # cuDNN's tensor-core convolutions work in NHWC: NCHW tensors would be transposed.
        channels_last=device.type == "cuda" and input_ndim == 4,
        compile=cfg.compile,
    )


def forward_fn(
    model: Callable[..., torch.Tensor], plan: DevicePlan, device: torch.device
) -> Forward:
    """`model`'s forward under the plan's input layout and autocast (fp32 logits either way).

    With neither (CPU defaults) it is `model` itself, so the plain path pays nothing.
    """
    if plan.autocast is None and not plan.channels_last:
        return model

    def forward(x: torch.Tensor) -> torch.Tensor:
        if plan.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if plan.autocast is None:
            return model(x)
        with torch.autocast(device.type, dtype=plan.autocast):
            # fp32 logits, so that the loss (outside autocast) is computed in fp32.
            return model(x).float()

    return forward


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
def split_metrics(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    batch_size: int,
    forward: Forward | None = None,
) -> dict[str, float]:
    """Every metric of `child.evaluation.metrics.METRICS` of `net` on (x, y), in eval mode."""
    net.eval()
    forward = net if forward is None else forward
    preds = [
        forward(x[start : start + batch_size]).argmax(dim=1)
        for start in range(0, len(y), batch_size)
    ]
    pred = torch.cat(preds) if preds else y[:0]
    return metrics_from_confusion(confusion_matrix(pred, y, classes))


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
    offsets = torch.randint(0, 2 * pad + 1, (2,), generator=generator, device=x.device)
    if x.is_cuda:
        return crop(padded, offsets, h, w)
    dy, dx = offsets.tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def crop(padded: torch.Tensor, offsets: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """`padded[:, :, dy:dy+h, dx:dx+w]` for `offsets` = (dy, dx) held in a tensor.

    Indexing with tensors keeps the offsets on the GPU: turning them into Python ints would
    wait for the GPU at every step.
    """
    rows = offsets[0] + torch.arange(h, device=padded.device)
    cols = offsets[1] + torch.arange(w, device=padded.device)
    return padded.index_select(2, rows).index_select(3, cols)


def train(
    net: nn.Module,
    data: DataSplits,
    cfg: ChildConfig,
    seed: int,
    validate_last: int = 1,
    evaluate_test: bool = False,
    on_epoch: EpochHook | None = None,
    metric: str = "accuracy",
) -> TrainOutcome:
    """Train `net` on `data` (already on the net's device); never raises for a failing child.

    A loss that turns NaN or infinite gives status "diverged", CUDA running out of memory gives
    "oom" and any other runtime error "error"; the message says what happened. `on_epoch`, if
    given, is called after every epoch with the epoch number (from 1), the mean training loss
    and the validation accuracy (None for epochs that were not validated).

    On CUDA the images' memory format is channels-last and cuDNN autotunes; `cfg.precision`
    and `cfg.compile` choose autocast and torch.compile (see `device_plan`). A bad precision
    raises ConfigError before any training.
    """
    device = data.train_x.device
    plan = device_plan(cfg, device, data.train_x.ndim)
    start = time.perf_counter()
    outcome = TrainOutcome()
    try:
        forward = _fit(net, data, cfg, plan, seed, validate_last, outcome, on_epoch, metric)
        if outcome.status == Status.OK and evaluate_test:
            outcome.test_metrics = split_metrics(
                net, data.test_x, data.test_y, data.num_classes, cfg.eval_batch_size, forward
            )
            outcome.test_acc = outcome.test_metrics["accuracy"]
    except torch.cuda.OutOfMemoryError as err:
        outcome.status, outcome.message = Status.OOM, _first_line(err)
        torch.cuda.empty_cache()
    except Exception as err:  # a shape error or any other failure ends this child only
        outcome.status, outcome.message = Status.ERROR, _first_line(err)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _prepare(net: nn.Module, plan: DevicePlan, device: torch.device) -> nn.Module:
    """Set `net` and the process up for `plan`; the module training steps should call."""
    if device.type == "cuda":
        # Process-wide, and meant to be: a run's children share one input shape and draw their
        # convolutions from a few ops and widths, so cuDNN tunes each once and later children
        # reuse it. Tuned algorithms may differ between runs in the last bits of the results.
        torch.backends.cudnn.benchmark = True
    if plan.channels_last:
        net.to(memory_format=torch.channels_last)
    if not plan.compile:
        return net
    # Every child is a new graph of the same forward code: without a reset, dynamo's
    # recompile limit (8 per code object) would silently run later children eagerly.
    torch.compiler.reset()
    return torch.compile(net)


def _timed_first_call(step: Step, outcome: TrainOutcome, device: torch.device) -> Step:
    """`step`, recording the wall time of its first call (which compiles) in `outcome`."""
    first = True

    def timed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nonlocal first
        if not first:
            return step(x, y)
        first = False
        start = time.perf_counter()
        loss = step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        outcome.compile_seconds = time.perf_counter() - start
        return loss

    return timed


def _make_step(
    forward: Forward,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    cfg: ChildConfig,
) -> Step:
    """One optimizer step on a batch (x, y); returns the batch's loss."""

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(forward(x), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        return loss

    return step


def _fit(
    net: nn.Module,
    data: DataSplits,
    cfg: ChildConfig,
    plan: DevicePlan,
    seed: int,
    validate_last: int,
    outcome: TrainOutcome,
    on_epoch: EpochHook | None,
    metric: str = "accuracy",
) -> Forward:
    """Train `net` in place; returns the forward that evaluation should use."""
    device = data.train_x.device
    model = _prepare(net, plan, device)
    # Evaluation stays eager: compiling it too would cost a compile for eval mode and another
    # for the last, smaller batch, to save one pass over the validation set per epoch.
    evaluate = forward_fn(net, plan, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    params = list(net.parameters())
    optimizer = make_optimizer(params, cfg)
    n = len(data.train_y)
    batch_size = min(cfg.batch_size, n)
    steps_per_epoch = n // batch_size  # full batches only: BatchNorm dislikes a batch of one
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, cfg.schedule)
    )
    step = _make_step(forward_fn(model, plan, device), params, optimizer, scheduler, cfg)
    if plan.compile:
        step = _timed_first_call(step, outcome, device)
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
            loss = step(x, data.train_y[idx])
            # Checked once per epoch: a per-step .item() would stall a GPU.
            finite &= torch.isfinite(loss)
            loss_sum += loss.detach()
        if not bool(finite):
            outcome.status = Status.DIVERGED
            outcome.message = f"non-finite training loss in epoch {epoch + 1}"
            return evaluate
        val_acc = None
        if epoch >= cfg.epochs - validate_last:
            scores = split_metrics(
                net, data.val_x, data.val_y, data.num_classes, cfg.eval_batch_size, evaluate
            )
            val_acc = scores["accuracy"]
            outcome.val_curve.append(scores[metric])
            outcome.val_metrics = scores
        if on_epoch is not None:
            on_epoch(epoch + 1, loss_sum.item() / steps_per_epoch, val_acc)
    return evaluate


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
