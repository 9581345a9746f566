"""The bundled table's `params` and `flops` columns (written by child.spaces.nb201.table_costs)."""

import csv
import importlib
import random
import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from child.evaluation.costs import count_params
from child.spaces import build_network
from child.spaces.nb201.space import NB201SpaceConfig, parse_nb201_string
from tests.helpers import ROOT

BUNDLED_TABLE = ROOT / "child" / "spaces" / "nb201" / "tables" / "nb201.csv"

with BUNDLED_TABLE.open(newline="", encoding="utf-8") as f:
    ROWS = list(csv.DictReader(f))


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def load_script():
    return importlib.import_module("child.spaces.nb201.table_costs")


def test_columns_are_positive_integers_in_every_row():
    assert len(ROWS) == 15625
    for row in ROWS:
        for column in ("params", "flops"):
            assert re.fullmatch(r"[1-9][0-9]*", row[column] or ""), (row["index"], column)
    none = next(r for r in ROWS if set(re.findall(r"(\w+)~", r["arch"])) == {"none"})
    # Stem, reductions and classifier alone: the smallest network of all.
    assert int(none["params"]) == min(int(r["params"]) for r in ROWS) == 73306


# An independent count (not the script's code): the real network, counted directly.
@pytest.mark.parametrize("row", random.Random(1234).sample(range(len(ROWS)), 5))
def test_shipped_costs_match_the_real_network(row):
    arch = parse_nb201_string(ROWS[row]["arch"])
    net = build_network(arch, (3, 32, 32), 10, NB201SpaceConfig())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32))
    assert int(ROWS[row]["params"]) == count_params(net)
    assert int(ROWS[row]["flops"]) == counter.get_total_flops()


def test_script_appends_then_replaces_the_columns_keeping_other_text(tmp_path):
    # A small table cut from the shipped one, without the cost columns, must come back as
    # the shipped lines byte for byte; run again, the existing columns are replaced in place.
    lines = BUNDLED_TABLE.read_text(encoding="utf-8").splitlines()[:40]
    shipped = "".join(line + "\n" for line in lines)
    path = tmp_path / "t.csv"
    path.write_text("".join(line.rsplit(",", 2)[0] + "\n" for line in lines), encoding="utf-8")
    script = load_script()
    assert script.main(["--table", str(path), "--verify", "2"]) == 0
    assert path.read_text(encoding="utf-8") == shipped
    assert script.main(["--table", str(path), "--verify", "2"]) == 0
    assert path.read_text(encoding="utf-8") == shipped
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temp file left behind
