"""Search for an architecture: `python scripts/search.py [overrides]` (see conf/config.yaml)."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from app.cli import run_cli, user_errors
from app.config import register_configs
from app.search import search_main

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one search in Hydra's run directory; returns the best reward (for sweepers)."""
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    with user_errors(run_dir, hydra.output_subdir):
        summary = search_main(cfg, run_dir, overrides=hydra.overrides.task)
    return float(summary["best_reward"])


if __name__ == "__main__":
    run_cli(main)
