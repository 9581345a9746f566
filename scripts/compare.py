"""Compare searches: `python scripts/compare.py <multirun dir or run dirs...> [--budgets 10,25]`.

Groups the runs by the overrides that differ between them (seeds aside), prints a table of the
best reward so far after each budget (mean ± std over runs), and writes comparison.md,
comparison.json and comparison.png into --out (default: the multirun directory, if one was
given, else the current directory).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from app.cli import fail
from app.compare import compare, default_out_dir, parse_budgets, rich_tables, write_outputs
from app.console import make_console
from core.errors import ConfigError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one `error: ...` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2 (argparse would print the usage too)."""
        fail(message)
        raise AssertionError("unreachable")  # fail() exits


def make_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = OneLineParser(
        description="Compare search runs: best reward so far vs children evaluated, per setting."
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, help="a Hydra multirun directory and/or run directories"
    )
    parser.add_argument(
        "--budgets",
        help="children counts for the table, e.g. 10,25,50,100 "
        "(default: the quarter points of the shortest run)",
    )
    parser.add_argument("--out", type=Path, help="where to write comparison.{md,json,png}")
    parser.add_argument(
        "--metric",
        default="reward",
        help="the children.jsonl field to compare (default: reward), or a report column of a "
        "table search (e.g. cifar100_test_200ep): then the best-by-reward child's value",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Read the runs, print the table, write the files."""
    args = make_parser().parse_args(argv)
    try:
        budgets = parse_budgets(args.budgets) if args.budgets is not None else None
        comparison = compare(args.paths, metric=args.metric, budgets=budgets)
        out_dir = args.out or default_out_dir(args.paths)
        written = write_outputs(comparison, out_dir)
    except ConfigError as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "))
    for note in comparison.skipped:
        print(f"warning: skipped {note}", file=sys.stderr)
    console = make_console()
    for table in rich_tables(comparison):
        console.print(table)
    console.print("wrote " + ", ".join(str(p) for p in written), markup=False, highlight=False)


if __name__ == "__main__":
    main()
