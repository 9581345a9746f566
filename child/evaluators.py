"""Evaluators turn architectures into `ChildResult`s: build, train, score.

`evaluate_child` is the whole life of one child and depends only on its arguments (plain data
and a seed), so every evaluator, in-process or remote, gives the same result for the same job.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from child.config import ChildConfig
from child.data import DataSplits
from child.latency import measure_latency_ms
from child.networks import count_params
from child.result import ChildResult, Status
from child.rewards import Reward
from child.spaces import SpaceConfig, build_network
from child.trainer import torch_threads, train
from core.architecture import Architecture


@dataclass(frozen=True)
class ChildJob:
    """One child to evaluate: its index in the search, its architecture and its seed."""

    index: int
    arch: Architecture
    seed: int


def child_seed(run_seed: int, index: int) -> int:
    """The seed of child `index` of a run: independent of where and in what order it trains."""
    return int(np.random.SeedSequence([run_seed, index]).generate_state(1)[0])


class Evaluator(Protocol):
    """Anything that evaluates jobs and yields their results as they finish."""

    def evaluate(self, jobs: Sequence[ChildJob]) -> Iterator[ChildResult]:
        """Evaluate `jobs`, yielding one result per job (in any order)."""
        ...

    def close(self) -> None:
        """Release workers and other resources."""
        ...


def evaluate_child(
    job: ChildJob,
    data: DataSplits,
    space_cfg: SpaceConfig,
    child_cfg: ChildConfig,
    reward_cfg: Reward,
    evaluate_test: bool = False,
) -> ChildResult:
    """Build, train and score one child; a failure is recorded in the result, never raised."""
    params = 0
    # A private RNG stream: the child's init, shuffling and dropout depend on its seed only.
    # The thread count belongs to the recipe too: CPU kernels split their sums by thread, so
    # another count changes the last bits of the weights and, in the end, some predictions.
    with torch_threads(child_cfg.threads), torch.random.fork_rng(devices=_cuda_devices(data)):
        torch.manual_seed(job.seed)
        try:
            net = build_network(job.arch, data.input_shape, data.num_classes, space_cfg)
            params = count_params(net)
            net = net.to(data.train_x.device)
        except Exception as err:  # any failure to build is this child's failure, not the search's
            message = f"build failed: {type(err).__name__}: {err}"
            return ChildResult.failed(job.index, job.arch, Status.ERROR, message, params)
        outcome = train(
            net, data, child_cfg, job.seed, reward_cfg.epochs_to_validate, evaluate_test
        )
    if outcome.status != Status.OK:
        return ChildResult.failed(
            job.index, job.arch, outcome.status, outcome.message, params, outcome.seconds
        )
    latency = None
    if reward_cfg.needs_latency:
        latency = measure_latency_ms(net, data.input_shape, data.train_x.device)
    return ChildResult(
        index=job.index,
        arch=job.arch,
        reward=reward_cfg.compute(outcome.val_curve, params, latency),
        val_acc=outcome.val_curve[-1],
        params=params,
        seconds=outcome.seconds,
        val_curve=tuple(outcome.val_curve),
        test_acc=outcome.test_acc,
        latency_ms=latency,
        compile_seconds=outcome.compile_seconds,
    )


def _cuda_devices(data: DataSplits) -> list[int]:
    device = data.train_x.device
    return [device.index or 0] if device.type == "cuda" else []


class LocalEvaluator:
    """Trains children one after another in this process, on the data's device."""

    def __init__(
        self,
        data: DataSplits,
        space_cfg: SpaceConfig,
        child_cfg: ChildConfig,
        reward_cfg: Reward,
    ) -> None:
        self.data = data
        self.space_cfg = space_cfg
        self.child_cfg = child_cfg
        self.reward_cfg = reward_cfg

    def evaluate(self, jobs: Sequence[ChildJob]) -> Iterator[ChildResult]:
        """Train each job in turn and yield its result."""
        for job in jobs:
            yield evaluate_child(job, self.data, self.space_cfg, self.child_cfg, self.reward_cfg)

    def close(self) -> None:
        """Nothing to release."""
