"""Search for an architecture: `python scripts/search.py [overrides]` (see conf/config.yaml)."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from app.cli import run_cli, user_errors
from app.config import register_configs
from app.preflight import preflight
from app.search import search_main
from child.evaluation.pool import default_workers

register_configs()


def share_cores_with_parallel_runs(cfg: DictConfig, hydra: DictConfig) -> None:
    """Under the joblib launcher, give each of its parallel runs its share of the cores."""
    launcher = str(hydra.launcher.get("_target_", ""))
    if "joblib" not in launcher or cfg.evaluator.get("name") != "local":
        return
    if cfg.evaluator.get("workers") is not None:
        return  # set by the user: their call
    n_jobs = int(hydra.launcher.get("n_jobs") or 1)
    cores = default_workers()
    runs = cores if n_jobs < 1 else n_jobs
    cfg.evaluator.workers = max(1, cores // runs)
    print(
        f"joblib runs {runs} searches at once on {cores} cores: each trains with "
        f"evaluator.workers={cfg.evaluator.workers} (set it to override)",
        flush=True,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one search in Hydra's run directory; returns the best reward (for sweepers)."""
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    share_cores_with_parallel_runs(cfg, hydra)
    with user_errors(run_dir, hydra.output_subdir):
        summary = search_main(cfg, run_dir, overrides=hydra.overrides.task)
    return float(summary["best_reward"])


if __name__ == "__main__":
    run_cli(main, before=lambda: preflight(sys.argv[1:]))
