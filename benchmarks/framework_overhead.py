"""Framework overhead: the project's child trainer against a plain PyTorch loop, same work.

    python benchmarks/framework_overhead.py [--repeats 5] [--device cpu] [--threads 1]
                                            [--precision fp32]

One representative macro child of the default search (conv5·32 | sep3·64<-0 | conv3·32 |
maxpool3·32<-1) is trained on MNIST-1D with the default search recipe (conf/child/default.yaml)
twice per repeat, from the same initial weights and seed: once by
`child.evaluation.trainer.train`, once by
a hand-written loop doing the same arithmetic (SGD with Nesterov momentum and weight decay,
cosine learning rate set per step, gradient clipping, same batch size, randperm shuffling each
epoch, full batches only, validation accuracy after the last epoch; with --precision bf16 both
autocast). On a CPU both runs reach the same accuracy to the last bit, which checks that they
did the same work (on CUDA, cuDNN's autotuned kernels need not be bitwise reproducible).

Runs alternate (ABBA…) after one warm-up run each, so that drift on a shared machine hits both
sides alike. Throughput is training samples per second of wall time; the ratio is project /
plain per pair. One CPU thread by default: on a small machine shared with other work, two
OpenMP threads fighting other processes for the cores made single runs swing by 5× (measured
on a loaded 2-core box).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F

from child.data.config import Mnist1dConfig
from child.data.datasets import DataSplits, load_dataset
from child.evaluation.config import ChildConfig
from child.evaluation.result import Status
from child.evaluation.trainer import autocast_dtype, resolve_device, train
from child.spaces import build_network
from child.spaces.macro.space import MacroSpaceConfig
from core.architecture import Architecture, Layer

ROOT = Path(__file__).resolve().parents[1]
ARCH = Architecture(
    "macro",
    (
        Layer("conv5", (("width", 32),)),
        Layer("sep3", (("width", 64),), inputs=(0,)),
        Layer("conv3", (("width", 32),)),
        Layer("maxpool3", (("width", 32),), inputs=(1,)),
    ),
)
SEED = 0


def search_recipe() -> ChildConfig:
    """The default search recipe, read from conf/child/default.yaml."""
    schema = OmegaConf.structured(ChildConfig)
    return OmegaConf.to_object(
        OmegaConf.merge(schema, OmegaConf.load(ROOT / "conf/child/default.yaml"))
    )


def fresh_net(data: DataSplits) -> nn.Module:
    """The child, initialised from SEED, on the data's device."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = build_network(ARCH, data.input_shape, data.num_classes, MacroSpaceConfig())
    return net.to(data.train_x.device)


def project(net: nn.Module, data: DataSplits, cfg: ChildConfig) -> float:
    """Train with the project's trainer; validation accuracy after the last epoch."""
    outcome = train(net, data, cfg, SEED)
    if outcome.status != Status.OK:
        raise RuntimeError(f"the project's trainer failed: {outcome.message}")
    return outcome.val_curve[-1]


def plain(net: nn.Module, data: DataSplits, cfg: ChildConfig) -> float:
    """Train with a hand-written loop doing the same arithmetic; last validation accuracy."""
    device = data.train_x.device
    generator = torch.Generator(device=device).manual_seed(SEED)
    optimizer = torch.optim.SGD(
        net.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )
    amp = autocast_dtype(cfg.precision, device)
    n, bs = len(data.train_y), cfg.batch_size
    steps = n // bs
    total = cfg.epochs * steps
    step = 0
    for _ in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=generator, device=device)
        for k in range(steps):
            idx = order[k * bs : (k + 1) * bs]
            optimizer.param_groups[0]["lr"] = cfg.lr * (
                0.5 * (1 + math.cos(math.pi * step / total))
            )
            loss = F.cross_entropy(logits_of(net, data.train_x[idx], amp), data.train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            step += 1
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data.val_y), cfg.eval_batch_size):
            logits = logits_of(net, data.val_x[i : i + cfg.eval_batch_size], amp)
            correct += (logits.argmax(1) == data.val_y[i : i + cfg.eval_batch_size]).sum().item()
    return correct / len(data.val_y)


def logits_of(net: nn.Module, x: torch.Tensor, amp: torch.dtype | None) -> torch.Tensor:
    """`net(x)`, under autocast to `amp` unless it is None."""
    if amp is None:
        return net(x)
    with torch.autocast(x.device.type, dtype=amp):
        return net(x).float()


def timed(fn, data: DataSplits, cfg: ChildConfig) -> tuple[float, float]:
    """(training samples per second, validation accuracy) of one run of `fn`."""
    net = fresh_net(data)
    start = time.perf_counter()
    acc = fn(net, data, cfg)
    seconds = time.perf_counter() - start
    samples = cfg.epochs * (len(data.train_y) // cfg.batch_size) * cfg.batch_size
    return samples / seconds, acc


def main() -> None:
    """Measure both loops, interleaved, and print throughputs and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="pairs measured after warm-up")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads; 0 = default")
    parser.add_argument("--precision", default="fp32", help="child.precision for both loops")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = replace(search_recipe(), precision=args.precision)
    assert cfg.optimizer == "sgd" and cfg.schedule == "cosine" and not cfg.warmup_epochs
    assert not cfg.augment and cfg.label_smoothing == 0.0 and cfg.grad_clip > 0
    data = load_dataset(Mnist1dConfig(), SEED).to(resolve_device(args.device))
    print(f"{data.describe()}; child {ARCH}; device {data.train_x.device}")
    print(
        f"recipe: {cfg.epochs} epochs, batch {cfg.batch_size}, precision {cfg.precision}, "
        f"{torch.get_num_threads()} threads"
    )
    runs = {"project": project, "plain": plain}
    acc = {name: timed(fn, data, cfg)[1] for name, fn in runs.items()}  # warm-up
    rates: dict[str, list[float]] = {"project": [], "plain": []}
    for r in range(args.repeats):
        order = ("project", "plain") if r % 2 == 0 else ("plain", "project")
        for name in order:
            rate, acc[name] = timed(runs[name], data, cfg)
            rates[name].append(rate)
    for name, values in rates.items():
        print(
            f"{name:8s} samples/s: median {statistics.median(values):8.0f}  "
            f"min {min(values):8.0f}  max {max(values):8.0f}  val_acc {acc[name]:.4f}"
        )
    if acc["project"] == acc["plain"]:
        same = "yes"
    elif data.train_x.is_cuda:
        same = "no (CUDA kernels need not be bitwise reproducible)"
    else:
        same = "NO: the loops did different work"
    print(f"same validation accuracy: {same}")
    ratios = [a / b for a, b in zip(rates["project"], rates["plain"], strict=True)]
    med = statistics.median(ratios)
    print(
        f"framework_overhead: project/plain = {med:.2f} "
        f"(min {min(ratios):.2f}, median {med:.2f}, {len(ratios)} pairs)"
    )


if __name__ == "__main__":
    main()
