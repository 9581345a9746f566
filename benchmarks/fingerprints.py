"""Fingerprints of fixed searches: one per controller, space and evaluator.

A restructuring must not change what a search does. This runs a fixed, seconds-long search for
every controller, space and evaluator, and hashes what it wrote (children.jsonl, best.json and
derive.json, less wall-clock timings). Run it before and after a change and compare:

    python benchmarks/fingerprints.py --out before.json
    ... change the code ...
    python benchmarks/fingerprints.py --check before.json

`--check` prints the cases whose fingerprint differs and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import compose_config  # noqa: E402
from app.search import search_main  # noqa: E402

TINY = [
    "dataset=digits",
    "child.epochs=1",
    "budget.children=6",
    "budget.batch=3",
    "child.threads=1",
    "evaluator.workers=1",
    "progress=false",
    "plots=false",
]
SHARED = [
    "dataset=digits",
    "evaluator=shared",
    "search_space.num_layers=3",
    "search_space.widths=[8]",
    "search_space.sum_norm=true",
    "evaluator.recipe.epochs=2",
    "evaluator.recipe.batch_size=256",
    "evaluator.controller_steps=2",
    "evaluator.derive_samples=6",
    "budget.batch=3",
    "child.epochs=1",
    "child.threads=1",
    "progress=false",
    "plots=false",
]
TABLE = [
    "search_space=nb201",
    "evaluator=table",
    "budget.children=40",
    "progress=false",
    "plots=false",
]
RNN = [*TINY, "search_space=rnn", "search_space.hidden=16", "child=rnn", "child.epochs=1"]
EVOLUTION_TINY = ["controller=evolution", "controller.population=4", "controller.sample_size=2"]

# Case name → overrides. The names say controller × space × evaluator.
CASES: dict[str, list[str]] = {
    "lstm-macro-local": [*TINY],
    "random-macro-local": [*TINY, "controller=random"],
    "evolution-macro-local": [*TINY, *EVOLUTION_TINY],
    "softmax-macro-local": [*TINY, "controller=softmax"],
    "ppo-macro-local": [*TINY, "controller=lstm", "controller.update=ppo"],
    "lstm-layers-local": [*TINY, "search_space=layers"],
    "lstm-macro-pool": [*TINY[:-3], "evaluator.workers=2", "budget.depth=2", *TINY[-2:]],
    "lstm-rnn-local": [*RNN],
    "lstm-macro-local-zoph": [*TINY, "reward=zoph"],
    "lstm-macro-local-cost": [*TINY, "reward=cost"],
    "lstm-nb201-table": [*TABLE],
    "random-nb201-table": [*TABLE, "controller=random"],
    "evolution-nb201-table": [*TABLE, *EVOLUTION_TINY],
    "evolution_paper-nb201-table": [
        *TABLE,
        "controller=evolution",
        "controller.population=10",
        "controller.sample_size=3",
    ],
    "softmax-nb201-table": [*TABLE, "controller=softmax"],
    "ppo-nb201-table": [*TABLE, "controller=lstm", "controller.update=ppo"],
    "lstm-nb201-table_oracle": [*TABLE, "evaluator=table_oracle"],
    "lstm-macro-shared": [*SHARED, "test_best=false"],
    "random-macro-shared": [*SHARED, "controller=random", "test_best=false"],
    "darts-macro-shared": [*SHARED, "controller=darts", "test_best=false"],
    "lstm-nb201-shared": [
        "dataset=digits",
        "search_space=nb201",
        "search_space.cells_per_stage=1",
        "search_space.channels=8",
        "evaluator=shared",
        "evaluator.recipe.epochs=1",
        "evaluator.recipe.batch_size=256",
        "evaluator.controller_steps=1",
        "evaluator.derive_samples=3",
        "child.threads=1",
        "test_best=false",
        "progress=false",
        "plots=false",
    ],
}
# Tuned and published presets, by the spelling that selects them (controller=<name> until
# they became experiments: --presets old|new picks the spelling).
PRESETS: dict[str, tuple[list[str], list[str], list[str]]] = {
    # name: (base overrides, old spelling, new spelling)
    "enas": (SHARED, ["controller=enas"], ["experiment=enas"]),
    "zoph": (TINY, ["controller=zoph"], ["experiment=zoph"]),
    # The NB201 presets with the cells per update they were tuned with (nb201_protocol.py).
    "ppo": (TABLE, ["controller=ppo", "budget.batch=10"], ["experiment=ppo"]),
    "lstm_nb201": (TABLE, ["controller=lstm_nb201", "budget.batch=1"], ["experiment=lstm_nb201"]),
    "softmax_nb201": (
        TABLE,
        ["controller=softmax_nb201", "budget.batch=10"],
        ["experiment=softmax_nb201"],
    ),
    "evolution_nb201": (
        TABLE,
        ["controller=evolution_nb201", "budget.batch=10"],
        ["experiment=evolution_nb201"],
    ),
    "evolution_paper": (
        TABLE,
        ["controller=evolution_paper", "budget.batch=1"],
        ["experiment=evolution_paper"],
    ),
}
# Wall-clock and machine-dependent fields, left out of the hash.
VOLATILE = {"seconds", "run_dir", "duration"}


def scrub(value: object) -> object:
    """`value` without its volatile fields, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def fingerprint(run_dir: Path) -> str:
    """A hash of what a finished run wrote, less timings."""
    parts = []
    children = run_dir / "children.jsonl"
    lines = children.read_text().splitlines() if children.exists() else []  # DARTS has none
    parts += [scrub(json.loads(line)) for line in lines]
    for name in ("best.json", "derive.json"):
        path = run_dir / name
        if path.exists():
            parts.append({name: scrub(json.loads(path.read_text()))})
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def run_case(overrides: list[str]) -> str:
    """Run one fixed search in a temporary directory; its fingerprint."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        search_main(compose_config(overrides), run_dir, Console(file=io.StringIO()))
        return fingerprint(run_dir)


def main() -> int:
    """Fingerprint every case; write them, or check them against a saved set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the fingerprints here (JSON)")
    parser.add_argument("--check", type=Path, help="compare against fingerprints saved earlier")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--presets", choices=("old", "new"), default="new")
    args = parser.parse_args()
    spelling = 1 if args.presets == "old" else 2
    for name, spellings in PRESETS.items():
        CASES[f"preset-{name}"] = [*spellings[0], *spellings[spelling]]
    names = args.only or list(CASES)
    prints = {}
    for name in names:
        prints[name] = run_case(CASES[name])
        print(f"{name:28s} {prints[name]}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(prints, indent=2) + "\n")
    if args.check:
        saved = json.loads(args.check.read_text())
        differ = [n for n in names if saved.get(n) != prints[n]]
        same = len(names) - len(differ)
        print(f"{same} of {len(names)} identical" + (f"; differ: {differ}" if differ else ""))
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
