"""Tabular benchmarks: look an architecture's accuracy up instead of training it.

`ResultTable` reads a CSV with one row per architecture (its string in the space's notation,
as `format_arch` prints it), the column the reward is computed from (`value_column`), and any
number of report columns, looked up beside it for every child but never learned from. The
bundled table, which a space ships (`SpaceDef.table`; today NAS-Bench-201's,
`child/spaces/nb201/tables/nb201.csv`, provenance in the README beside it), holds all
15,625 NAS-Bench-201 cells with their 12-epoch validation and test accuracies and their
200-epoch test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120 (in percent), and each
cell's parameter count and FLOPs in the project's own NB201 network.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.evaluator import ChildJob, EvaluatorDef, EvaluatorSetup, InTurnEvaluator
from child.evaluation.result import ChildResult, Status
from child.evaluation.rewards import Reward, ValAccReward
from child.spaces import build_space, bundled_table, format_arch
from core.architecture import Architecture
from core.errors import ConfigError, invalid, require

PARAMS_COLUMN = "params"
FLOPS_COLUMN = "flops"
COST_COLUMNS = (PARAMS_COLUMN, FLOPS_COLUMN)
DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
_COLUMN_RE = re.compile(r"^(?P<data>[a-z0-9]+)_(?P<split>valid|test)_(?P<epochs>\d+)ep$")


def is_test_column(column: str) -> bool:
    """Whether a column holds test accuracies: used as a reward, that makes an oracle search."""
    return "test" in column.lower().split("_")


def describe_column(column: str) -> str:
    """A column's meaning in words, e.g. "CIFAR-10 test accuracy after 200 epochs"."""
    match = _COLUMN_RE.match(column)
    if match is None:
        return column
    data = DATASET_NAMES.get(match["data"], match["data"])
    split = "validation" if match["split"] == "valid" else "test"
    return f"{data} {split} accuracy after {match['epochs']} epochs"


class ResultTable:
    """Architecture string → value and report values (each multiplied by `scale`), from a CSV.

    `path` None means the bundled NAS-Bench-201 table. Columns named "params" and "flops",
    when present, give each architecture's cost. Errors are `ConfigError`s naming
    `<key_prefix>.path`, `.arch_column`, `.value_column`, `.report_columns` or `.scale`.
    """

    def __init__(
        self,
        path: str | Path | None,
        arch_column: str,
        value_column: str,
        scale: float,
        key_prefix: str = "evaluator",
        report_columns: Sequence[str] = (),
    ) -> None:
        self.path = resolve_table_path(path)
        self.arch_column = arch_column
        self.value_column = value_column
        self.report_columns = tuple(report_columns)
        self.scale = scale
        require(
            isinstance(scale, int | float)
            and not isinstance(scale, bool)
            and math.isfinite(scale)
            and scale > 0,
            f"{key_prefix}.scale",
            scale,
            "a finite number > 0",
        )
        require(
            len(set(self.report_columns)) == len(self.report_columns),
            f"{key_prefix}.report_columns",
            list(self.report_columns),
            "no column listed twice",
        )
        # Per architecture: the value column's number first, then the report columns'.
        self._rows: dict[str, tuple[float, ...]] = {}
        self._costs: dict[str, dict[str, int]] = {name: {} for name in COST_COLUMNS}
        self._read(key_prefix)
        self._median = statistics.median(row[0] for row in self._rows.values())
        self._best = max(self._rows, key=lambda arch: self._rows[arch][0])

    @classmethod
    def from_config(
        cls, cfg: TableEvaluatorConfig | None = None, key_prefix: str = "evaluator"
    ) -> ResultTable:
        """The table of an `evaluator=table` config (None: the bundled NAS-Bench-201 table)."""
        cfg = cfg or TableEvaluatorConfig()
        return cls(
            cfg.path, cfg.arch_column, cfg.value_column, cfg.scale, key_prefix, cfg.report_columns
        )

    def _read(self, prefix: str) -> None:
        where = f"{prefix}.path"
        if not self.path.is_file():
            raise ConfigError(
                f"{where}={str(self.path)!r} is invalid: expected an existing file "
                f"(looked for {self.path.resolve()})"
            )
        try:
            with self.path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                columns = reader.fieldnames or []
                require(bool(columns), where, str(self.path), "a CSV file with a header row")
                listed = f"a column of {self.path.name} ({', '.join(columns)})"
                require(
                    self.arch_column in columns, f"{prefix}.arch_column", self.arch_column, listed
                )
                require(
                    self.value_column in columns,
                    f"{prefix}.value_column",
                    self.value_column,
                    listed,
                )
                for column in self.report_columns:
                    require(column in columns, f"{prefix}.report_columns", column, listed)
                costs = [name for name in COST_COLUMNS if name in columns]
                for row in reader:
                    self._add(row, reader.line_num, costs, prefix)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise ConfigError(
                f"{where}={str(self.path)!r} is invalid: expected a readable CSV file "
                f"({type(err).__name__}: {err})"
            ) from err
        require(bool(self._rows), where, str(self.path), "a CSV file with at least one row")

    def _add(self, row: dict[str, str | None], line: int, costs: list[str], prefix: str) -> None:
        # Messages are built only on failure: this runs once per row of a 15,625-row table.
        def where() -> str:
            return f"{self.path.name} line {line}"

        arch = (row.get(self.arch_column) or "").strip()
        if not arch:
            raise invalid(f"{prefix}.arch_column", self.arch_column, f"no empty cell ({where()})")
        if arch in self._rows:
            problem = f"each architecture once ({arch} repeats on {where()})"
            raise invalid(f"{prefix}.arch_column", self.arch_column, problem)
        values = []
        for column in (self.value_column, *self.report_columns):
            value = _number(row.get(column))
            if value is None:
                key = "value_column" if column == self.value_column else "report_columns"
                problem = f"a finite number in every row ({where()} has {row.get(column)!r})"
                raise invalid(f"{prefix}.{key}", column, problem)
            # Rounded: 85.8633 * 0.01 would be stored as 0.8586330000000001 in every record.
            values.append(round(value * self.scale, 12))  # type: ignore[operator]
        self._rows[arch] = tuple(values)
        for name in costs:
            cost = _number(row.get(name))
            if cost is None or cost < 0:
                problem = f"a number >= 0 in the {name} column ({where()})"
                raise invalid(f"{prefix}.path", str(self.path), problem)
            self._costs[name][arch] = int(cost)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, arch: object) -> bool:
        if isinstance(arch, Architecture):
            arch = format_arch(arch)
        return arch in self._rows

    @staticmethod
    def key(arch: Architecture | str) -> str:
        """The table key of `arch`: its string in its space's notation (`format_arch`)."""
        return arch if isinstance(arch, str) else format_arch(arch)

    def value(self, arch: Architecture | str) -> float:
        """The scaled value of `arch`; raises KeyError when the table lacks it."""
        key = self.key(arch)
        if key not in self._rows:
            raise KeyError(f"{key} is not in {self.path.name}")
        return self._rows[key][0]

    def get(self, arch: Architecture | str, default: float | None = None) -> float | None:
        """The scaled value of `arch`, or `default` when the table lacks it."""
        row = self._rows.get(self.key(arch))
        return default if row is None else row[0]

    def report(self, arch: Architecture | str) -> dict[str, float]:
        """The scaled report values of `arch`, by column (empty when the table lacks it)."""
        row = self._rows.get(self.key(arch))
        return {} if row is None else dict(zip(self.report_columns, row[1:], strict=True))

    def column(self, name: str) -> dict[str, float]:
        """Architecture string → scaled value of the value column or a report column."""
        if name == self.value_column:
            position = 0
        elif name in self.report_columns:
            position = 1 + self.report_columns.index(name)
        else:
            raise KeyError(f"{name} is neither the value column nor a report column")
        return {arch: row[position] for arch, row in self._rows.items()}

    def params(self, arch: Architecture | str) -> int:
        """The parameter count of `arch` from the table's "params" column, else 0."""
        return self._costs[PARAMS_COLUMN].get(self.key(arch), 0)

    def flops(self, arch: Architecture | str) -> int | None:
        """The FLOPs of `arch` from the table's "flops" column (None without one)."""
        return self._costs[FLOPS_COLUMN].get(self.key(arch))

    @property
    def has_params(self) -> bool:
        """Whether the table has a "params" column."""
        return bool(self._costs[PARAMS_COLUMN])

    @property
    def has_flops(self) -> bool:
        """Whether the table has a "flops" column."""
        return bool(self._costs[FLOPS_COLUMN])

    @property
    def median(self) -> float:
        """Median scaled value over the table (random search's typical draw)."""
        return self._median

    @property
    def max(self) -> float:
        """Largest scaled value: the global optimum of the value column."""
        return self._rows[self._best][0]

    @property
    def best(self) -> str:
        """An architecture string with the largest value (the first in file order on ties)."""
        return self._best

    def items(self) -> Iterator[tuple[str, float]]:
        """(architecture string, scaled value) for every row, in file order."""
        return ((arch, row[0]) for arch, row in self._rows.items())


class TableEvaluator(InTurnEvaluator):
    """An `Evaluator` that looks each child up in a `ResultTable` instead of training it.

    val_acc is the value column's number, and the reward is computed from it (and the table's
    params and FLOPs, for `reward=cost`) as a trained child's would be from its last
    validation accuracy. The report columns ride along in `report`; the controller never sees
    them. Seconds are 0. An architecture the table lacks fails with status "error".
    """

    def __init__(self, table: ResultTable, reward: Reward | None = None) -> None:
        super().__init__()
        self.table = table
        self.reward = reward or ValAccReward()
        for metric, present in ((PARAMS_COLUMN, table.has_params), (FLOPS_COLUMN, table.has_flops)):
            if getattr(self.reward, "cost_metric", None) == metric and not present:
                raise ConfigError(
                    f"reward.cost_metric={metric!r} is invalid: {table.path.name} has no "
                    f"{metric} column"
                )

    @classmethod
    def from_config(cls, cfg: TableEvaluatorConfig, reward: Reward | None = None) -> TableEvaluator:
        """The evaluator of an `evaluator=table` config, with the run's reward."""
        return cls(ResultTable.from_config(cfg), reward)

    def evaluate_one(self, job: ChildJob) -> ChildResult:
        """The table's answer for one job."""
        try:
            key = self.table.key(job.arch)
        except ValueError as err:  # an architecture its own space cannot print
            key, problem = str(job.arch), f"cannot look up: {err}"
        else:
            problem = f"not in table {self.table.path.name}: {key}"
        value = self.table.get(key)
        if value is None:
            return ChildResult.failed(job.index, job.arch, Status.ERROR, problem, seconds=None)
        params, flops = self.table.params(key), self.table.flops(key)
        return ChildResult(
            index=job.index,
            arch=job.arch,
            reward=self.reward.compute((value,), params, flops=flops),
            val_acc=value,
            params=params,
            seconds=None,  # looked up, not timed
            val_curve=(value,),
            flops=flops,
            report=self.table.report(key),
        )


def resolve_table_path(path: str | Path | None) -> Path:
    """`path` as a Path; None or "" means the bundled table (`child.spaces.bundled_table`)."""
    if path is None or str(path) == "":
        return bundled_table()
    return Path(path).expanduser()


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def build_table(setup: EvaluatorSetup) -> tuple[TableEvaluator, None]:
    """The table's evaluator; ConfigError if the table lists no architecture of the space."""
    evaluator = TableEvaluator.from_config(setup.evaluator, setup.reward)
    probe = build_space(setup.space).sample(np.random.default_rng(0))
    if probe not in evaluator.table:
        raise ConfigError(
            f"evaluator=table has no entry for architectures of search_space="
            f"{setup.space.name} (e.g. {format_arch(probe)}): use a matching space"
        )
    return evaluator, None


# `evaluator=table_oracle` is a preset of this one (conf/evaluator/table_oracle.yaml).
EVALUATOR = EvaluatorDef(name="table", config=TableEvaluatorConfig, build=build_table)
