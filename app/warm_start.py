"""A zero-cost warm start: before a search, the controller learns from proxy scores.

`warm_start` lets a learned policy (controller=lstm or softmax) propose `children`
architectures in batches of `budget.batch`, scores each with a zero-cost proxy at
initialisation (`child.evaluation.proxy`, the reward normalised as `evaluator=proxy` does) and
makes one update per batch. Then the reward baseline, its variance, the rank window and the
elite set restart empty, so the first trained children set the baseline on the accuracy scale
instead of being compared with proxy rewards. None of these children counts against
`budget.children`, becomes the best child or enters the cache: they were never trained. Their
records (labelled `"evaluation": "proxy"`, `"warm_start": true`) are returned for the run
directory's `warm_start.jsonl`.

It runs before the search loop and needs nothing of it: a new run calls it once after building
its parts; a resumed run does not (the checkpoint holds the warmed controller).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.run_files import atomic_write_bytes
from child.data.datasets import DataSplits
from child.evaluation.evaluator import ChildJob, child_seed
from child.evaluation.proxy import ProxyEvaluator, ProxyEvaluatorConfig
from child.evaluation.trainer import resolve_device
from child.spaces import SpaceConfig, format_arch
from controller.base import Controller
from core.errors import ConfigError, require

# Controllers whose policy learns from rewards through an EMA baseline (the ones it can warm).
WARMABLE = ("lstm", "softmax")
# Seeds of warm-start children: a stream apart from the search's children.
_WARM_STREAM = 1 << 40


@dataclass
class WarmStartConfig:
    """`warm_start.*`: `children` proxy-scored proposals before the search (0: off)."""

    children: int = 0
    proxy: str = "params"  # one of child.evaluation.proxy.PROXIES
    batches: int = 1
    batch_size: int = 64
    reference: int = 64  # random architectures that normalise the proxy reward

    def check(self) -> None:
        """A count >= 0 and, when on, proxy settings that can work."""
        require(self.children >= 0, "warm_start.children", self.children, "an int >= 0 (0: off)")
        if self.children:
            self.proxy_config().check(key="warm_start")

    def proxy_config(self) -> ProxyEvaluatorConfig:
        """The proxy evaluator's config these settings describe."""
        return ProxyEvaluatorConfig(
            proxy=self.proxy,
            batches=self.batches,
            batch_size=self.batch_size,
            reference=self.reference,
        )


def check_warm_start(cfg: WarmStartConfig, controller: str, evaluator: str) -> None:
    """Refuse a warm start that cannot work: only a learned policy, only trained children."""
    cfg.check()
    if not cfg.children:
        return
    if controller not in WARMABLE:
        raise ConfigError(
            f"warm_start.children={cfg.children} is invalid with controller={controller}: "
            f"expected 0, or controller={' or '.join(WARMABLE)} (a policy learned through a "
            "reward baseline)"
        )
    if evaluator in ("proxy", "shared", "table"):
        raise ConfigError(
            f"warm_start.children={cfg.children} is invalid with evaluator={evaluator}: expected "
            "0, or an evaluator that trains children (local, ray)"
        )


@dataclass(frozen=True)
class WarmStartReport:
    """What the warm start did: its children's records, updates and time."""

    records: list[dict[str, Any]]
    updates: int
    seconds: float


def warm_start(
    controller: Controller,
    cfg: WarmStartConfig,
    batch: int,
    data: DataSplits,
    space_cfg: SpaceConfig,
    seed: int,
    device: str = "cpu",
    threads: int = 1,
) -> WarmStartReport:
    """Teach `controller` from proxy rewards of `cfg.children` proposals; restart its baseline."""
    start = time.perf_counter()
    if not cfg.children:
        return WarmStartReport([], 0, 0.0)
    where = resolve_device(device)
    proxy_cfg = cfg.proxy_config()
    scorer = ProxyEvaluator(proxy_cfg, data.to(where), space_cfg, seed, where, threads)
    records: list[dict[str, Any]] = []
    updates = 0
    while len(records) < cfg.children:
        archs = controller.propose(min(batch, cfg.children - len(records)))
        jobs = [
            ChildJob(len(records) + i, arch, child_seed(seed, _WARM_STREAM + len(records) + i))
            for i, arch in enumerate(archs)
        ]
        results = [scorer.evaluate_one(job) for job in jobs]
        controller.learn(archs, [r.reward for r in results])
        updates += 1
        for result in results:
            records.append(
                {
                    **result.to_dict(),
                    "arch_str": format_arch(result.arch),
                    "evaluation": "proxy",
                    "warm_start": True,
                    "value_label": proxy_cfg.value_label,
                }
            )
    restart_baseline(controller)
    return WarmStartReport(records, updates, time.perf_counter() - start)


def restart_baseline(controller: Controller) -> None:
    """Forget the reward statistics of a policy-gradient controller (kept: the policy, Adam)."""
    state = controller.state_dict()
    if "baseline" not in state:
        return
    state.update(baseline=None, reward_var=0.0, recent=[], elite=[])
    controller.load_state_dict(state)


WARM_START = "warm_start.jsonl"


def warm_start_run(
    cfg: WarmStartConfig,
    controller: Controller,
    batch: int,
    data: DataSplits | None,
    space_cfg: SpaceConfig,
    seed: int,
    run_dir: Path,
    device: str = "cpu",
    threads: int = 1,
) -> dict[str, Any] | None:
    """A run's warm start: done once before its search (a resumed run reads what it did).

    Its children go to `warm_start.jsonl`; the return value is summary.json's `warm_start`.
    """
    if not cfg.children or data is None:
        return None
    path = run_dir / WARM_START
    if path.exists():  # a resumed run: its checkpoint holds the warmed controller
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        report = WarmStartReport(records, -(-len(records) // batch), 0.0)
        return summary_of(report, cfg)
    report = warm_start(controller, cfg, batch, data, space_cfg, seed, device, threads)
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in report.records).encode())
    return summary_of(report, cfg)


def summary_of(report: WarmStartReport, cfg: WarmStartConfig) -> dict[str, Any]:
    """The summary.json entry of a warm start."""
    rewards = [r["reward"] for r in report.records]
    return {
        "children": len(report.records),
        "proxy": cfg.proxy,
        "updates": report.updates,
        "seconds": round(report.seconds, 2),
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
        "note": "proxy-scored proposals the controller learned from before the search; "
        "not trained, not counted in budget.children",
    }
