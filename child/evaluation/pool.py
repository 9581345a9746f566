"""Train children in worker processes on this machine: one child per worker, all cores busy.

The pool is the standard library's `ProcessPoolExecutor` (spawned processes, so no worker
inherits the search's torch threads). Each worker receives the data and the settings once, when
it starts, and then only jobs; a child's result depends on its job alone (its seed and the
recipe's thread count), never on the worker that trains it. Which children a search proposes
depends on its seed and pipeline depth (`budget.depth`), so the same seed gives the same
children on 1 or N workers *at the same depth*: the default depth (null) follows the worker
count (0 on one worker, N on N), so set `budget.depth` to compare runs across machines.

A worker that dies (killed, or taken by the out-of-memory killer) breaks the whole pool in
Python: the pool is then started again, and every child it lost is trained again, up to
`max_retries` times, before it is recorded as failed. The search goes on either way.

A worker never outlives the search that started it, even one killed with SIGKILL while its
pool was starting: the search's PID travels in the worker's setup (a worker that read its
parent itself would read 1 once orphaned), a worker whose search is already gone leaves at once,
and otherwise the kernel's parent-death signal (Linux) or a check every second ends it.
multiprocessing's resource tracker then leaves too: it exits when the last process holding its
pipe (the search and its workers) is gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from child.data.datasets import DataSplits
from child.evaluation.config import ChildConfig
from child.evaluation.evaluator import ChildJob, Evaluator, evaluate_child
from child.evaluation.result import ChildResult, Status
from child.evaluation.rewards import Reward
from child.evaluation.trainer import resolve_device
from child.spaces import SpaceConfig

log = logging.getLogger(__name__)
ORPHAN_CHECK_SECONDS = 1.0  # how often a worker checks that the search that started it lives


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs besides its jobs: sent once, when the worker starts."""

    data: DataSplits
    space_cfg: SpaceConfig
    child_cfg: ChildConfig
    reward_cfg: Reward
    parent: int  # the PID of the search process that starts the workers


# The setup of *this worker process*, set once by `_start_worker`. A process pool's initializer
# can hand state to the tasks only through the worker's module globals; the search process
# never sets or reads it.
_worker_setup: list[WorkerSetup] = []


def _start_worker(setup: WorkerSetup) -> None:
    # Ctrl-C goes to the whole process group: the search process handles it and stops the
    # pool, so a worker must not die of it half-way through writing a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A search killed with SIGKILL cannot stop its workers, and an idle worker would wait for
    # jobs forever, holding its copy of the data: each worker leaves once it is orphaned. The
    # death signal is asked for first, so that a search dying after the check below is caught.
    _die_with_parent()
    if os.getppid() != setup.parent:  # the search died while this worker was starting
        os._exit(0)
    threading.Thread(target=_exit_when_orphaned, args=(setup.parent,), daemon=True).start()
    device = resolve_device(setup.child_cfg.device)
    _worker_setup.append(
        WorkerSetup(
            setup.data.to(device), setup.space_cfg, setup.child_cfg, setup.reward_cfg, setup.parent
        )
    )


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies; elsewhere, do nothing."""
    # The signal comes when the *thread* that started this worker ends: workers are started by
    # the thread that submits the jobs (the search's own), which lives as long as the search.
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc to call: the check every second remains
        pass


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _train(job: ChildJob) -> ChildResult:
    setup = _worker_setup[0]
    return evaluate_child(job, setup.data, setup.space_cfg, setup.child_cfg, setup.reward_cfg)


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class PoolEvaluator(Evaluator):
    """Trains each child in one of `workers` processes; results come back as children finish."""

    def __init__(
        self,
        workers: int,
        data: DataSplits,
        space_cfg: SpaceConfig,
        child_cfg: ChildConfig,
        reward_cfg: Reward,
        max_retries: int = 2,
    ) -> None:
        self.workers = workers
        self.max_retries = max_retries
        self.setup = WorkerSetup(data.to("cpu"), space_cfg, child_cfg, reward_cfg, os.getpid())
        self._running: dict[Future[ChildResult], tuple[ChildJob, int]] = {}  # → job, attempt
        self._failed: list[ChildResult] = []  # children whose retries were spent, to hand back
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.setup,),
        )

    @property
    def parallelism(self) -> int:
        """One child per worker."""
        return self.workers

    def submit(self, jobs: Sequence[ChildJob]) -> None:
        """Queue every job on the pool; the workers take them in order."""
        for job in jobs:
            self._start(job, attempt=0)

    def _start(self, job: ChildJob, attempt: int) -> None:
        self._running[self._pool.submit(_train, job)] = (job, attempt)

    def next_result(self) -> ChildResult:
        """The next finished child (of several finished at once, the lowest index)."""
        while not self._failed:
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            future = min(done, key=lambda f: self._running[f][0].index)
            if not isinstance(future.exception(), BrokenProcessPool):
                job, _ = self._running.pop(future)
                error = future.exception()
                if error is None:
                    return future.result()
                # evaluate_child records failures itself: this is a bug in the worker's code.
                message = f"worker raised {type(error).__name__}: {error}"
                return ChildResult.failed(job.index, job.arch, Status.ERROR, message)
            self._restart()
        return self._failed.pop(0)

    def _restart(self) -> None:
        """A worker died: start a new pool and train again what the old one lost."""
        gone = [f for f in self._running if not f.done() or f.exception() is not None]
        lost = [self._running.pop(future) for future in gone]
        self._pool.shutdown(wait=False, cancel_futures=True)
        log.warning("a worker died; restarting the pool and retrying %d children", len(lost))
        self._pool = self._new_pool()
        for job, attempt in sorted(lost, key=lambda pair: pair[0].index):
            if attempt < self.max_retries:
                self._start(job, attempt + 1)
            else:
                message = f"its worker died {attempt + 1} times (killed or out of memory)"
                self._failed.append(ChildResult.failed(job.index, job.arch, Status.ERROR, message))

    def close(self) -> None:
        """Stop the workers now, children in training included (nothing waits for them)."""
        # The pool has no public way to stop a busy worker; without this, Ctrl-C would wait
        # for every running child to finish training.
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        self._running.clear()
