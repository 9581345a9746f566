import importlib.util
import sys
from pathlib import Path

import pytest

from app.compare import evaluated_children
from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.table import ResultTable

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "nb201_efficiency.py"
SPEC = importlib.util.spec_from_file_location("nb201_efficiency", PATH)
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # dataclasses look their module up there
SPEC.loader.exec_module(bench)

TABLE = ResultTable.from_config(TableEvaluatorConfig(value_column="cifar10_test_200ep"))


@pytest.mark.parametrize("controller", ["lstm_nb201", "evolution"])
def test_one_run_gives_a_monotone_curve_of_table_values(tmp_path, controller):
    result = bench.run_one(controller, 0, tmp_path, children=60, batch=10, max_samples=200)
    run = result.run
    records = evaluated_children(tmp_path / f"{controller}-0")
    assert run.children == len(records) <= 60
    assert result.samples <= 200
    values = set(dict(TABLE.items()).values())
    assert all(r["reward"] in values for r in records)
    assert len({r["arch_str"] for r in records}) == len(records)  # unique children only
    assert all(a <= b for a, b in zip(run.curve, run.curve[1:], strict=False))
    assert run.curve[-1] == max(r["reward"] for r in records)
    assert run.final <= TABLE.max


def test_a_run_that_stopped_early_counts_with_its_final_best(tmp_path):
    # 100 proposals at most: evolution repeats itself and stops short of 100 unique children
    result = bench.run_one("evolution", 0, tmp_path, children=100, batch=10, max_samples=100)
    assert result.samples == 100
    assert result.run.children < 100
    group = bench.group_of("evolution", [result], 500)
    stats = bench.group_stats([result], group, TABLE.max)
    assert stats["best_at"]["500"]["mean"] == result.run.final
    assert stats["per_run"][0]["best_at"]["500"] == result.run.final
    assert stats["unique_children"]["min"] == result.run.children
