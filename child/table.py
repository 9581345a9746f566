"""Tabular benchmarks: look an architecture's accuracy up instead of training it.

`ResultTable` reads a CSV with one row per architecture (its string in the space's notation,
as `format_arch` prints it) and one numeric column. `TableEvaluator` answers jobs from it in
microseconds, which makes whole searches over NAS-Bench-201 cost seconds. The bundled table,
`child/tables/nb201_cifar10.csv`, holds the 200-epoch CIFAR-10 *test* accuracy (in percent) of
all 15,625 NAS-Bench-201 cells.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from child.config import TableEvaluatorConfig
from child.result import ChildResult, Status
from child.spaces import format_arch
from core.architecture import Architecture
from core.errors import ConfigError, require

if TYPE_CHECKING:  # child.evaluators imports torch; tables alone do not need it
    from child.evaluators import ChildJob

BUNDLED_TABLE = Path(__file__).resolve().parent / "tables" / "nb201.csv"
PARAMS_COLUMN = "params"


class ResultTable:
    """Architecture string → value (already multiplied by `scale`), read from a CSV file.

    `path` None means the bundled NAS-Bench-201 CIFAR-10 table. A column named "params", when
    present, gives each architecture's parameter count. Errors are `ConfigError`s naming
    `<key_prefix>.path`, `.arch_column`, `.value_column` or `.scale`.
    """

    def __init__(
        self,
        path: str | Path | None,
        arch_column: str,
        value_column: str,
        scale: float,
        key_prefix: str = "evaluator",
    ) -> None:
        self.path = resolve_table_path(path)
        self.arch_column = arch_column
        self.value_column = value_column
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
        self._values: dict[str, float] = {}
        self._params: dict[str, int] = {}
        self._read(key_prefix)
        self._median = statistics.median(self._values.values())
        self._best = max(self._values, key=self._values.__getitem__)

    @classmethod
    def from_config(
        cls, cfg: TableEvaluatorConfig | None = None, key_prefix: str = "evaluator"
    ) -> ResultTable:
        """The table of an `evaluator=table` config (None: the bundled NAS-Bench-201 table)."""
        cfg = cfg or TableEvaluatorConfig()
        return cls(cfg.path, cfg.arch_column, cfg.value_column, cfg.scale, key_prefix)

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
                for key, column in (
                    (f"{prefix}.arch_column", self.arch_column),
                    (f"{prefix}.value_column", self.value_column),
                ):
                    require(
                        column in columns,
                        key,
                        column,
                        f"a column of {self.path.name} ({', '.join(columns)})",
                    )
                has_params = PARAMS_COLUMN in columns
                for row in reader:
                    self._add(row, reader.line_num, has_params, prefix)
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise ConfigError(
                f"{where}={str(self.path)!r} is invalid: expected a readable CSV file "
                f"({type(err).__name__}: {err})"
            ) from err
        require(bool(self._values), where, str(self.path), "a CSV file with at least one row")

    def _add(self, row: dict[str, str | None], line: int, has_params: bool, prefix: str) -> None:
        where = f"{self.path.name} line {line}"
        arch = (row.get(self.arch_column) or "").strip()
        require(bool(arch), f"{prefix}.arch_column", self.arch_column, f"no empty cell ({where})")
        require(
            arch not in self._values,
            f"{prefix}.arch_column",
            self.arch_column,
            f"each architecture once ({arch} repeats on {where})",
        )
        value = _number(row.get(self.value_column))
        require(
            value is not None,
            f"{prefix}.value_column",
            self.value_column,
            f"a finite number in every row ({where} has {row.get(self.value_column)!r})",
        )
        self._values[arch] = value * self.scale  # type: ignore[operator]
        if has_params:
            params = _number(row.get(PARAMS_COLUMN))
            require(
                params is not None and params >= 0,
                f"{prefix}.path",
                str(self.path),
                f"a number >= 0 in the {PARAMS_COLUMN} column ({where})",
            )
            self._params[arch] = int(params)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, arch: object) -> bool:
        if isinstance(arch, Architecture):
            arch = format_arch(arch)
        return arch in self._values

    @staticmethod
    def key(arch: Architecture | str) -> str:
        """The table key of `arch`: its string in its space's notation (`format_arch`)."""
        return arch if isinstance(arch, str) else format_arch(arch)

    def value(self, arch: Architecture | str) -> float:
        """The scaled value of `arch`; raises KeyError when the table lacks it."""
        key = self.key(arch)
        if key not in self._values:
            raise KeyError(f"{key} is not in {self.path.name}")
        return self._values[key]

    def get(self, arch: Architecture | str, default: float | None = None) -> float | None:
        """The scaled value of `arch`, or `default` when the table lacks it."""
        return self._values.get(self.key(arch), default)

    def params(self, arch: Architecture | str) -> int:
        """The parameter count of `arch` from the table's "params" column, else 0."""
        return self._params.get(self.key(arch), 0)

    @property
    def has_params(self) -> bool:
        """Whether the table has a "params" column."""
        return bool(self._params)

    @property
    def median(self) -> float:
        """Median scaled value over the table (random search's typical draw)."""
        return self._median

    @property
    def max(self) -> float:
        """Largest scaled value: the global optimum (0.9437 for the bundled table)."""
        return self._values[self._best]

    @property
    def best(self) -> str:
        """An architecture string with the largest value (the first in file order on ties)."""
        return self._best

    def items(self) -> Iterator[tuple[str, float]]:
        """(architecture string, scaled value) for every row, in file order."""
        return iter(self._values.items())


class TableEvaluator:
    """An `Evaluator` that looks each child up in a `ResultTable` instead of training it.

    The reward and val_acc are the table's value; params come from the table's "params" column
    (0 without one); seconds are 0. An architecture the table lacks fails with status "error".
    """

    def __init__(self, table: ResultTable) -> None:
        self.table = table

    @classmethod
    def from_config(cls, cfg: TableEvaluatorConfig) -> TableEvaluator:
        """The evaluator of an `evaluator=table` config."""
        return cls(ResultTable.from_config(cfg))

    def evaluate(self, jobs: Sequence[ChildJob]) -> Iterator[ChildResult]:
        """Yield one result per job, in order."""
        for job in jobs:
            yield self.result(job)

    def result(self, job: ChildJob) -> ChildResult:
        """The table's answer for one job."""
        try:
            key = self.table.key(job.arch)
        except ValueError as err:  # an architecture its own space cannot print
            key, problem = str(job.arch), f"cannot look up: {err}"
        else:
            problem = f"not in table {self.table.path.name}: {key}"
        value = self.table.get(key)
        if value is None:
            return ChildResult.failed(job.index, job.arch, Status.ERROR, problem)
        return ChildResult(
            index=job.index,
            arch=job.arch,
            reward=value,
            val_acc=value,
            params=self.table.params(key),
            seconds=0.0,
            val_curve=(value,),
        )

    def close(self) -> None:
        """Nothing to release."""


def resolve_table_path(path: str | Path | None) -> Path:
    """`path` as a Path; None or "" means the bundled NAS-Bench-201 CIFAR-10 table."""
    if path is None or str(path) == "":
        return BUNDLED_TABLE
    return Path(path).expanduser()


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
