"""Retrain an architecture from scratch: `python scripts/retrain.py run=<search run dir>`."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from app.cli import run_cli, user_errors
from app.config import register_configs
from app.retrain import retrain_main

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="retrain")
def main(cfg: DictConfig) -> float:
    """Retrain into Hydra's run directory; returns the test accuracy (for sweepers)."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors(out_dir):
        result = retrain_main(cfg, out_dir)
    return float(result["test_acc"])


if __name__ == "__main__":
    run_cli(main)
