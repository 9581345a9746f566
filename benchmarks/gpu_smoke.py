"""GPU smoke test: a short CIFAR-shaped search on CUDA; prints children/min and samples/s.

    benchmarks/gpu_smoke.sh                          # on CUDA, stopped after 3 minutes
    python benchmarks/gpu_smoke.py --device cpu --children 4   # a quick local check

A real search (app/search.py's `search_main`: LSTM controller, macro space with a 2×
pooling after layer 1, the default search recipe) whose data is CIFAR-10 from `--cifar-path`
(its first `--train` images) when that folder exists, and otherwise SYNTHETIC tensors of
CIFAR-10's shape (`dataset=synthetic`: 3×32×32, 10 classes, class templates plus noise; see
conf/dataset/synthetic.yaml). Its accuracies show that children learn, nothing more.

Printed: children per minute on the search loop's clock, and child-training throughput
(training samples per second of the children's own `seconds`, which include their validation
pass and, with --compile, compiling). With --device cuda and no CUDA it stops at once with one
line and exit status 2; a child that ends in `error` or `oom` makes the exit status 1.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import torch

from child.evaluation.result import Status

# On a CPU the default search would take many minutes: a smaller data set and one epoch.
SIZES = {"cuda": (10000, 5), "cpu": (512, 1)}  # device type → (training images, epochs)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--children", type=int, default=48, help="children to train")
    parser.add_argument("--batch", type=int, default=4, help="children per controller update")
    parser.add_argument("--minutes", type=float, default=2.0, help="search time budget")
    parser.add_argument("--train", type=int, help="training images (10000 on cuda, 512 on cpu)")
    parser.add_argument("--epochs", type=int, help="epochs per child (5 on cuda, 1 on cpu)")
    parser.add_argument("--batch-size", type=int, default=128, help="child training batch")
    parser.add_argument("--precision", default="fp32", help="child.precision: fp32, bf16, auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile every child")
    parser.add_argument("--data", choices=("auto", "cifar10", "synthetic"), default="auto")
    parser.add_argument("--cifar-path", default="data/cifar10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=1, help="evaluator.workers: processes sharing the device"
    )
    return parser.parse_args()


def require_device(name: str) -> torch.device:
    """The device, or exit with one line when it asks for CUDA and there is none."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_smoke: CUDA is not available (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda or 'none'}); for a CPU check use --device cpu --children 4",
            file=sys.stderr,
        )
        sys.exit(2)
    return device


def data_overrides(args: argparse.Namespace, train: int) -> tuple[str, list[str]]:
    """The data set's name and its overrides: real CIFAR-10 if present, else synthetic."""
    use_cifar = args.data == "cifar10" or (args.data == "auto" and Path(args.cifar_path).exists())
    if use_cifar:
        return "cifar10", [
            "dataset=cifar10",
            f"dataset.path={args.cifar_path}",
            f"dataset.limit={train}",
        ]
    return "synthetic (CIFAR-shaped)", [
        "dataset=synthetic",
        "dataset.shape=[3,32,32]",
        f"dataset.train={train}",
    ]


def main() -> None:
    """Run the search and print the rates."""
    args = parse_args()
    device = require_device(args.device)
    default_train, default_epochs = SIZES["cuda" if device.type == "cuda" else "cpu"]
    train, epochs = args.train or default_train, args.epochs or default_epochs
    # Imported after the CUDA check, so that a missing GPU is reported at once.
    from rich.console import Console

    from app.compare import evaluated_children
    from app.config import compose_config, typed_config
    from app.search import search_main
    from child.data.datasets import carve
    from child.evaluation.trainer import autocast_dtype

    data_name, overrides = data_overrides(args, train)
    overrides += [
        "search_space.pool_after=[1]",
        f"child.device={args.device}",
        f"child.precision={args.precision}",
        f"child.compile={str(args.compile).lower()}",
        f"child.epochs={epochs}",
        f"child.batch_size={args.batch_size}",
        f"budget.children={args.children}",
        f"budget.batch={min(args.batch, args.children)}",
        f"budget.minutes={args.minutes}",
        f"seed={args.seed}",
        f"evaluator.workers={args.workers}",
        "test_best=false",
        "progress=false",
    ]
    raw = compose_config(overrides)
    cfg = typed_config(raw)
    n_train = len(carve(train, cfg.dataset.val_fraction, cfg.seed)[0])
    steps = n_train // min(cfg.child.batch_size, n_train)
    samples_per_child = epochs * steps * min(cfg.child.batch_size, n_train)
    amp = autocast_dtype(cfg.child.precision, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"gpu_smoke: {name} ({device}), precision {args.precision} -> "
        f"{'bf16 autocast' if amp else 'fp32'}, compile {'on' if args.compile else 'off'}, "
        f"channels-last {'on' if device.type == 'cuda' else 'off'}, {args.workers} worker(s) "
        f"sharing it; data {data_name}, "
        f"{n_train} training images, {epochs} epochs of batch {args.batch_size} per child",
        flush=True,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        summary = search_main(raw, run_dir, Console(file=io.StringIO()))
        children = evaluated_children(run_dir)
    wall = time.perf_counter() - start
    report(children, summary, wall, samples_per_child)


def report(children: list[dict], summary: dict, wall: float, samples_per_child: int) -> None:
    """Print the rates; exit 1 if a child failed with an error or ran out of memory."""
    ok = [c for c in children if c["status"] == Status.OK]
    failed = [c for c in children if c["status"] in (Status.ERROR, Status.OOM)]
    rate = 60 * summary["children"] / max(summary["seconds"], 1e-9)
    print(
        f"gpu_smoke: {summary['children']} children ({len(ok)} ok) in {summary['seconds']:.1f} s "
        f"of search ({wall:.1f} s with start-up): {rate:.1f} children/min"
    )
    if ok:
        seconds = sum(c["seconds"] for c in ok)
        compiled = [c["compile_seconds"] for c in ok if c.get("compile_seconds") is not None]
        print(
            f"gpu_smoke: child training {len(ok) * samples_per_child / seconds:,.0f} samples/s "
            f"({seconds / len(ok):.2f} s per child, validation included); "
            f"best val_acc {max(c['val_acc'] for c in ok):.4f}"
        )
        if compiled:
            print(
                f"gpu_smoke: compile (first step) {sum(compiled) / len(compiled):.2f} s per child"
            )
    for c in failed:
        print(f"gpu_smoke: child {c['index']} {c['status']}: {c['message']}", file=sys.stderr)
    if failed or not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
