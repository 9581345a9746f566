"""Evaluators turn architectures into `ChildResult`s: build, train, score.

`evaluate_child` is the whole life of one child and depends only on its arguments (plain data
and a seed), so every evaluator, in-process or remote, gives the same result for the same job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from child.data.datasets import DataSplits
from child.evaluation.config import ChildConfig
from child.evaluation.costs import count_params, measure_latency_ms
from child.evaluation.result import ChildResult, Status
from child.evaluation.rewards import Reward
from child.evaluation.trainer import torch_threads, train
from child.spaces import SpaceConfig, build_network
from core.architecture import Architecture
from core.registry import PartDef


@dataclass(frozen=True)
class ChildJob:
    """One child to evaluate: its index in the search, its architecture and its seed."""

    index: int
    arch: Architecture
    seed: int


def child_seed(run_seed: int, index: int) -> int:
    """The seed of child `index` of a run: independent of where and in what order it trains."""
    return int(np.random.SeedSequence([run_seed, index]).generate_state(1)[0])


class Evaluator(ABC):
    """Evaluates submitted jobs, handing back each result once it is ready.

    The search loop submits children as they are proposed and takes results as they finish,
    so an evaluator with workers keeps them busy while the controller works ahead.
    """

    @abstractmethod
    def submit(self, jobs: Sequence[ChildJob]) -> None:
        """Start evaluating `jobs` (or queue them)."""

    @abstractmethod
    def next_result(self) -> ChildResult:
        """The result of one submitted job, waiting for one if none is ready."""

    def close(self) -> None:  # noqa: B027 (most evaluators hold nothing to release)
        """Release workers and other resources."""

    @property
    def parallelism(self) -> int:
        """How many children it evaluates at once."""
        return 1

    def evaluate(self, jobs: Sequence[ChildJob]) -> Iterator[ChildResult]:
        """Submit `jobs` and yield one result per job, as each is ready (in any order)."""
        self.submit(jobs)
        for _ in jobs:
            yield self.next_result()


class InTurnEvaluator(Evaluator):
    """Evaluates one job at a time in this process, oldest first (`evaluate_one`)."""

    def __init__(self) -> None:
        self._queue: deque[ChildJob] = deque()

    def submit(self, jobs: Sequence[ChildJob]) -> None:
        """Queue the jobs."""
        self._queue.extend(jobs)

    def next_result(self) -> ChildResult:
        """Evaluate the oldest queued job."""
        return self.evaluate_one(self._queue.popleft())

    @abstractmethod
    def evaluate_one(self, job: ChildJob) -> ChildResult:
        """The result of one job, evaluated now."""


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
            net,
            data,
            child_cfg,
            job.seed,
            reward_cfg.epochs_to_validate,
            evaluate_test,
            metric=reward_cfg.metric,
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
        val_acc=outcome.val_metrics["accuracy"],
        params=params,
        seconds=outcome.seconds,
        val_curve=tuple(outcome.val_curve),
        test_acc=outcome.test_acc,
        latency_ms=latency,
        compile_seconds=outcome.compile_seconds,
        val_metrics=outcome.val_metrics,
    )


def _cuda_devices(data: DataSplits) -> list[int]:
    device = data.train_x.device
    return [device.index or 0] if device.type == "cuda" else []


@dataclass(frozen=True)
class EvaluatorSetup:
    """What an evaluator is built from: its own config and the run's settings it may need."""

    evaluator: Any  # its own config: the schema instance its `EvaluatorDef` declares
    dataset: Any  # the data set's config; an evaluator that trains loads it
    space: SpaceConfig
    child: ChildConfig
    reward: Reward
    seed: int


@dataclass(frozen=True)
class EvaluatorDef(PartDef):
    """An evaluator, declared by its module as `EVALUATOR = EvaluatorDef(...)`.

    - `config`: the dataclass schema of `evaluator=<name>`, with a `check()` of its settings.
    - `build`: setup → (the evaluator, the data it trains on, or None if it trains nothing).
      It loads what it needs (data, a table) and raises ConfigError for what only then shows.
    """

    build: Callable[[EvaluatorSetup], tuple[Evaluator, DataSplits | None]]
