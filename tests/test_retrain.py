import io
import json

import pytest
import torch
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from app.config import compose_config
from app.retrain import retrain_main
from child.data.config import DigitsConfig
from child.data.datasets import load_dataset
from child.evaluation.saved_model import load_network
from child.evaluation.trainer import split_metrics
from core.errors import ConfigError

QUICK = ["child.epochs=2", "child.warmup_epochs=0", "child.threads=1", "progress=false"]


def retrain(tmp_path, overrides):
    out = io.StringIO()
    cfg = compose_config([*QUICK, *overrides], name="retrain")
    result = retrain_main(cfg, tmp_path, Console(file=out, width=200))
    return result, out.getvalue()


def test_retraining_the_best_child_saves_weights_that_load_in_one_call(tmp_path, finished_run):
    result, printed = retrain(tmp_path, [f"run={finished_run}"])
    best = json.loads((finished_run / "best.json").read_text())
    assert result["arch"] == best["arch"]
    assert result["dataset"] == "digits"  # taken from the run, not the retrain default
    assert "TEST accuracy (retrained, 2 epochs)" in printed
    assert "validation accuracy (search, short recipe)" in printed

    net, meta = load_network(tmp_path / "model.pt")
    data = load_dataset(DigitsConfig(), seed=0)
    with torch.no_grad():
        scores = split_metrics(net, data.test_x, data.test_y, data.num_classes, 512)
        assert scores["accuracy"] == pytest.approx(result["test_acc"])
    assert meta["info"]["test_acc"] == result["test_acc"]
    assert result["test_metrics"]["accuracy"] == result["test_acc"]
    f1 = result["test_metrics"]["macro_f1"]
    assert 0.0 < f1 <= 1.0
    assert "TEST macro f1 (retrained, 2 epochs)" in printed and f"{f1:.4f}" in printed
    assert json.loads((tmp_path / "result.json").read_text())["params"] == result["params"]

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [e.step for e in events.Scalars("retrain/val_acc")] == [1, 2]
    assert events.Scalars("retrain/test_acc")[0].value == pytest.approx(result["test_acc"])


def test_the_controllers_favourite_can_be_retrained(tmp_path, finished_run):
    result, _ = retrain(tmp_path, [f"run={finished_run}", "source=favourite"])
    summary = json.loads((finished_run / "summary.json").read_text())
    assert result["arch_str"] == summary["favourite"]


def test_an_architecture_file_can_be_retrained_on_any_data_set(tmp_path, finished_run):
    result, _ = retrain(tmp_path, [f"arch={finished_run / 'best.json'}", "dataset=digits"])
    assert result["origin"].startswith("file")
    assert 0.0 <= result["test_acc"] <= 1.0


def test_missing_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="run=null and arch=null"):
        retrain(tmp_path, [])
    with pytest.raises(ConfigError, match="arch="):
        retrain(tmp_path, [f"arch={tmp_path / 'nope.json'}"])
