"""Compare finished (or running) searches: best reward so far vs children evaluated, per setting.

Runs are grouped by the overrides that differ between them, `seed` and `hydra.*` aside, so the
seeds of one setting form one group. Every number is over the runs of a group: the mean and the
sample standard deviation (n − 1) of each run's best reward after a given number of evaluated
children (cached repeats do not count). A run shorter than a budget does not contribute to it.

A table search also records report columns for every child (e.g. NAS-Bench-201's 200-epoch
test accuracies). Those are never maximised over: `--metric <report column>` follows the
report value of the *best-by-reward* child so far, which is what a paper reports for the cell
a search found, and a second table shows each report column of that cell at the run's end.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from rich.table import Table
from rich.text import Text

from app.config import flatten_config
from app.run_files import CHILDREN, DamagedChildren, RunFiles
from core.errors import ConfigError

SUMMARY = "summary.json"
MULTIRUN = "multirun.yaml"
IGNORED_KEYS = ("seed", "resume")
UNSET = "(unset)"
OUTPUTS = ("comparison.md", "comparison.json", "comparison.png")
JOB_DIR = re.compile(r"^(\d+)(?:-.*)?$")  # a multirun job: its number, then its overrides


@dataclass(frozen=True)
class Run:
    """One search run: its directory, overrides and best-so-far curve (one point per child)."""

    dir: Path
    overrides: dict[str, str]
    curve: tuple[float, ...]
    seconds: float
    defaults: dict[str, str] = field(default_factory=dict)
    report: dict[str, float] = field(default_factory=dict)  # the final best-by-reward child's

    @property
    def children(self) -> int:
        """The number of children evaluated (cached repeats not counted)."""
        return len(self.curve)

    @property
    def final(self) -> float:
        """The best value over the whole run."""
        return self.curve[-1]

    def setting(self, key: str) -> str:
        """The value of `key` for this run: its override, else its resolved config value."""
        return self.overrides.get(key, self.defaults.get(key, UNSET))

    def best_after(self, budget: int) -> float | None:
        """The best value after `budget` children, or None when the run is shorter."""
        return self.curve[budget - 1] if budget <= self.children else None


@dataclass(frozen=True)
class Group:
    """The runs (usually seeds) that share the settings that differ between runs."""

    label: str
    settings: dict[str, str]
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (None for one value) and count of some values."""

    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class Band:
    """A group's curve: per child count x = 1..len, the mean, std and number of runs."""

    mean: list[float]
    std: list[float]
    n: list[int]


@dataclass(frozen=True)
class Comparison:
    """Everything the table, the files and the plot show."""

    metric: str
    budgets: tuple[int, ...]
    groups: tuple[Group, ...]
    skipped: tuple[str, ...] = ()
    report_columns: tuple[str, ...] = ()  # report columns every run has
    metric_is_report: bool = False  # the metric is a report column: the incumbent's value

    @property
    def metric_label(self) -> str:
        """What the compared number is, in words."""
        if self.metric_is_report:
            return f"{self.metric} of the best-by-reward child"
        return f"best {self.metric} so far"


# ---------------------------------------------------------------- reading run directories


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a search run directory (it holds children.jsonl)."""
    return (path / CHILDREN).is_file()


def job_number(path: Path) -> int | None:
    """The job number of a multirun job directory: `3` or `3-controller=lstm,seed=1` give 3."""
    match = JOB_DIR.match(path.name)
    return int(match[1]) if match else None


def numbered_dirs(path: Path) -> list[Path]:
    """The job directories of a Hydra multirun directory (`0/`, or `0-<overrides>/`), in order."""
    if not path.is_dir():
        return []
    jobs = [p for p in path.iterdir() if p.is_dir() and job_number(p) is not None]
    return sorted(jobs, key=lambda p: job_number(p) or 0)


def is_multirun_dir(path: Path) -> bool:
    """Whether `path` is a Hydra multirun directory (multirun.yaml or numbered run dirs)."""
    if is_run_dir(path):
        return False
    return (path / MULTIRUN).is_file() or any(is_run_dir(p) for p in numbered_dirs(path))


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """The run directories named by `paths`: multirun dirs expand to their numbered jobs."""
    runs: list[Path] = []
    for path in paths:
        if is_run_dir(path):
            runs.append(path)
        elif is_multirun_dir(path):
            runs.extend(p for p in numbered_dirs(path) if is_run_dir(p))
        else:
            raise ConfigError(
                f"{path} is neither a run directory (no {CHILDREN}) nor a Hydra multirun "
                "directory (no multirun.yaml, no numbered run directories)"
            )
    return list(dict.fromkeys(runs))  # the same run named twice counts once


def parse_override(text: str) -> tuple[str, str]:
    """`key=value` (Hydra's `+`/`++` prefixes dropped) as (key, value); `~key` has value ''."""
    key, _, value = str(text).partition("=")
    return key.strip().lstrip("+"), value.strip()


def is_ignored(key: str) -> bool:
    """Whether an override key says nothing about the setting (the seed, Hydra's own)."""
    return key in IGNORED_KEYS or key == "hydra" or key.startswith(("hydra.", "hydra/"))


def read_overrides(run_dir: Path) -> dict[str, str]:
    """The overrides of the call that started a run (`.hydra/overrides.yaml`), seed aside."""
    items = _read_yaml(run_dir / ".hydra" / "overrides.yaml") or []
    pairs = (parse_override(item) for item in items)
    return {key: value for key, value in pairs if not is_ignored(key)}


def read_defaults(run_dir: Path) -> dict[str, str]:
    """The run's resolved settings: config group choices and flattened `.hydra/config.yaml`."""
    hydra = _read_yaml(run_dir / ".hydra" / "hydra.yaml") or {}
    choices = hydra.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
    config = {
        key: str(value)
        for key, value in flatten_config(
            _read_yaml(run_dir / ".hydra" / "config.yaml") or {}
        ).items()
    }
    return {**config, **{k: str(v) for k, v in choices.items() if not is_ignored(k)}}


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        where = ""
        if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
            where = f" at line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}"
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ConfigError(f"{path} is not valid YAML: {problem}{where}") from None


def evaluated_children(run_dir: Path) -> list[dict[str, Any]]:
    """The records of children.jsonl that were evaluated (not cached repeats), in order."""
    return [r for r in RunFiles(run_dir).read_children() if not r.get("cached")]


def best_so_far(values: Iterable[float]) -> tuple[float, ...]:
    """The running maximum of `values`."""
    curve: list[float] = []
    for value in values:
        curve.append(max(value, curve[-1]) if curve else value)
    return tuple(curve)


def is_number(value: object) -> bool:
    """Whether `value` is a finite int or float (not a bool)."""
    is_real = isinstance(value, int | float) and not isinstance(value, bool)
    return is_real and math.isfinite(value)


def metric_values(records: Sequence[dict[str, Any]], metric: str, run_dir: Path) -> list[float]:
    """Each record's `metric` as a float; a missing or non-numeric one is a ConfigError."""
    values = []
    for record in records:
        value = record.get(metric)
        if not is_number(value):
            known = report_columns(records)
            hint = f" (report columns: {', '.join(known)})" if known else ""
            raise ConfigError(
                f"--metric {metric!r}: child {record.get('index', '?')} of {run_dir} has "
                f"{metric}={value!r}, expected a number{hint}"
            )
        values.append(float(value))
    return values


def report_columns(records: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The report columns of the records (those of a table search), in first-seen order."""
    seen = dict.fromkeys(c for r in records for c in (r.get("report") or {}))
    return tuple(seen)


def incumbent_reports(records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Per child, the report of the best-by-reward child so far (the first of equal rewards).

    Failed children are never the incumbent; before the first child that did not fail, the
    report is empty.
    """
    reports, best = [], None
    for record in records:
        ok = record.get("status", "ok") == "ok"
        if ok and (best is None or record["reward"] > best["reward"]):
            best = record
        reports.append(dict((best or {}).get("report") or {}))
    return reports


def report_curve(reports: Sequence[dict[str, float]], column: str, run_dir: Path) -> list[float]:
    """Per child, `column` of its incumbent's report (`incumbent_reports`; 0 before any)."""
    curve = []
    for i, report in enumerate(reports):
        value = report.get(column, 0.0 if not report else None)
        if not is_number(value):
            raise ConfigError(
                f"--metric {column!r}: the best child after {i + 1} children of {run_dir} has "
                f"no number in report column {column}"
            )
        curve.append(float(value))
    return curve


def read_seconds(run_dir: Path, records: Sequence[dict[str, Any]]) -> float:
    """The run's wall time: summary.json `seconds`, else the sum of its children's seconds."""
    path = run_dir / SUMMARY
    if path.is_file():
        try:
            seconds = json.loads(path.read_text()).get("seconds")
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON: {err}") from None
        if isinstance(seconds, int | float):
            return float(seconds)
    return float(sum(r.get("seconds") or 0.0 for r in records))


def load_run(run_dir: Path, metric: str = "reward") -> Run:
    """Read one run directory; a report column as `metric` follows the best-by-reward child."""
    records = evaluated_children(run_dir)
    reports = incumbent_reports(records)
    if metric in report_columns(records) and not is_number(records[0].get(metric)):
        curve = tuple(report_curve(reports, metric, run_dir))
    else:
        curve = best_so_far(metric_values(records, metric, run_dir))
    final_report = reports[-1] if reports else {}
    return Run(
        dir=run_dir,
        overrides=read_overrides(run_dir),
        curve=curve,
        seconds=read_seconds(run_dir, records),
        defaults=read_defaults(run_dir),
        report=final_report,
    )


# ---------------------------------------------------------------- grouping and statistics


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """The override keys whose value is not the same in every run, in first-seen order."""
    keys = dict.fromkeys(key for run in runs for key in run.overrides)
    return [key for key in keys if len({run.setting(key) for run in runs}) > 1]


def group_label(settings: dict[str, str]) -> str:
    """`key=value, key=value`, or `all` when nothing differs; null settings are left out.

    A sweep of experiments beside a plain controller differs in `experiment`, which the plain
    runs do not set: their label names their controller, not `experiment=None`.
    """
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v != "None") or "all"


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs grouped by the settings that differ between them, groups in first-seen order."""
    keys = differing_keys(runs)
    members: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        members.setdefault(tuple(run.setting(k) for k in keys), []).append(run)
    groups = []
    for values, group in members.items():
        settings = dict(zip(keys, values, strict=True))
        groups.append(Group(group_label(settings), settings, tuple(group)))
    return groups


def summarize(values: Sequence[float]) -> Stat | None:
    """Mean, sample std and count of `values`; None when there are none."""
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, len(values))


def stat_at(group: Group, budget: int) -> Stat | None:
    """The group's best value after `budget` children, over the runs that got that far."""
    values = [run.best_after(budget) for run in group.runs]
    return summarize([v for v in values if v is not None])


def final_stat(group: Group) -> Stat:
    """The group's best value over each run's whole length."""
    stat = summarize([run.final for run in group.runs])
    assert stat is not None  # groups are never empty
    return stat


def mean_seconds(group: Group) -> float:
    """The mean wall time of the group's runs."""
    return statistics.fmean(run.seconds for run in group.runs)


def default_budgets(runs: Sequence[Run], points: int = 4) -> tuple[int, ...]:
    """`points` budgets spread evenly over the shortest run (its quarter points by default)."""
    shortest = min(run.children for run in runs)
    return tuple(sorted({max(1, shortest * k // points) for k in range(1, points + 1)}))


def parse_budgets(text: str) -> tuple[int, ...]:
    """`10,25,50` as sorted distinct positive ints; anything else is a ConfigError."""
    try:
        budgets = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        budgets = set()
    if not budgets or min(budgets) < 1:
        raise ConfigError(f"--budgets={text!r} is invalid: expected positive ints like 10,25,50")
    return tuple(sorted(budgets))


def compare(
    paths: Sequence[Path], metric: str = "reward", budgets: Sequence[int] | None = None
) -> Comparison:
    """Read the runs under `paths` and group them; runs with no evaluated child are skipped.

    A run whose children.jsonl has a damaged line before its last is left out whole, with a
    note in `skipped` naming the run and the line (a torn last line is a running search's).
    """
    loaded, damaged = [], []
    for path in expand_paths(paths):
        try:
            loaded.append(load_run(path, metric))
        except DamagedChildren as err:  # never cut at the damage: the budgets would shift
            damaged.append(f"{path}: {err}, so the whole run is left out")
    runs = [run for run in loaded if run.children]
    empty = [f"{run.dir}: no evaluated children yet" for run in loaded if not run.children]
    skipped = (*damaged, *empty)
    if not runs:
        raise ConfigError(f"no run under {', '.join(map(str, paths))} has an evaluated child")
    chosen = tuple(budgets) if budgets else default_budgets(runs)
    shared = [c for c in runs[0].report if all(c in run.report for run in runs)]
    is_report = all(metric in run.report for run in runs) and metric not in ("reward", "val_acc")
    return Comparison(metric, chosen, tuple(group_runs(runs)), skipped, tuple(shared), is_report)


# ---------------------------------------------------------------- table, files and plot


def format_stat(stat: Stat | None, runs: int) -> str:
    """`0.9312 ± 0.0041`; `(n=2)` appended when fewer than `runs` runs contribute; `-` if none."""
    if stat is None:
        return "-"
    text = f"{stat.mean:.4f}" if stat.std is None else f"{stat.mean:.4f} ± {stat.std:.4f}"
    return text if stat.n == runs else f"{text} (n={stat.n})"


def format_seconds(seconds: float) -> str:
    """`0.11 s`, `42.1 s` or `12.5 min`."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def table_header(comparison: Comparison) -> list[str]:
    """The column names of the comparison table."""
    metric = comparison.metric
    return [
        "group",
        "runs",
        *(f"{metric}@{b}" for b in comparison.budgets),
        f"final {metric}",
        "wall time (mean)",
    ]


def report_stat(group: Group, column: str) -> Stat:
    """The group's `column` of each run's final best-by-reward child."""
    stat = summarize([run.report[column] for run in group.runs])
    assert stat is not None  # groups are never empty, and every run has the column
    return stat


def table_rows(comparison: Comparison) -> list[list[str]]:
    """One row of formatted cells per group."""
    rows = []
    for group in comparison.groups:
        n = len(group.runs)
        cells = [format_stat(stat_at(group, b), n) for b in comparison.budgets]
        final = format_stat(final_stat(group), n)
        rows.append([group.label, str(n), *cells, final, format_seconds(mean_seconds(group))])
    return rows


def found_header(comparison: Comparison) -> list[str]:
    """The column names of the found-cell table: group, runs, then each report column."""
    return ["group", "runs", *comparison.report_columns]


def found_rows(comparison: Comparison) -> list[list[str]]:
    """Per group, each report column of the runs' final best-by-reward cells."""
    rows = []
    for group in comparison.groups:
        n = len(group.runs)
        found = [format_stat(report_stat(group, c), n) for c in comparison.report_columns]
        rows.append([group.label, str(n), *found])
    return rows


FOUND_TITLE = (
    "The found cell (each run's best-by-reward child at its end), looked up in the table "
    "(mean ± std over runs)"
)


def rich_tables(comparison: Comparison) -> list[Table]:
    """The comparison as rich tables for the terminal; the found-cell one for table searches."""
    title = f"{_capital(comparison.metric_label)} after N children (mean ± std over runs)"
    tables = [_rich(title, table_header(comparison), table_rows(comparison))]
    if comparison.report_columns:
        tables.append(_rich(FOUND_TITLE, found_header(comparison), found_rows(comparison)))
    return tables


def _rich(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: "[...]" in overrides is not markup
    return table


def markdown_table(comparison: Comparison) -> str:
    """The comparison as GitHub markdown: the table, then the found-cell table if any."""
    text = _markdown(table_header(comparison), table_rows(comparison))
    if comparison.skipped:
        text += "\n" + "".join(f"Left out: {note}.\n" for note in comparison.skipped)
    if comparison.report_columns:
        found = _markdown(found_header(comparison), found_rows(comparison))
        text += f"\n{FOUND_TITLE}:\n\n{found}"
    return text


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [_md_row(header), "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += [_md_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def stat_json(stat: Stat | None) -> dict[str, Any] | None:
    """A Stat as a JSON object."""
    return None if stat is None else {"mean": stat.mean, "std": stat.std, "n": stat.n}


def run_json(run: Run, budgets: Sequence[int]) -> dict[str, Any]:
    """One run's raw numbers."""
    return {
        "dir": str(run.dir),
        "overrides": run.overrides,
        "children": run.children,
        "seconds": run.seconds,
        "final": run.final,
        "found_cell": run.report,
        "at_budgets": {str(b): run.best_after(b) for b in budgets},
        "curve": list(run.curve),
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The raw numbers behind the table and the plot."""
    budgets = comparison.budgets
    groups = [
        {
            "label": group.label,
            "settings": group.settings,
            "runs": len(group.runs),
            "at_budgets": {str(b): stat_json(stat_at(group, b)) for b in budgets},
            "final": stat_json(final_stat(group)),
            "found_cell": {c: stat_json(report_stat(group, c)) for c in comparison.report_columns},
            "seconds_mean": mean_seconds(group),
            "run_details": [run_json(run, budgets) for run in group.runs],
        }
        for group in comparison.groups
    ]
    return {
        "metric": comparison.metric,
        "metric_meaning": comparison.metric_label,
        "budgets": list(budgets),
        "found_cell": "report columns of each run's best-by-reward child at its end",
        "std": "sample standard deviation (n - 1) across runs; null for a single run",
        "groups": groups,
        "skipped": list(comparison.skipped),
    }


def group_band(group: Group) -> Band:
    """Mean and std of the group's best-so-far curves at each child count they reach."""
    longest = max(run.children for run in group.runs)
    stats = [stat_at(group, x) for x in range(1, longest + 1)]
    present = [s for s in stats if s is not None]
    return Band(
        mean=[s.mean for s in present],
        std=[s.std or 0.0 for s in present],
        n=[s.n for s in present],
    )


def plot_comparison(comparison: Comparison, path: Path) -> None:
    """Write a PNG: best value so far vs children evaluated, mean ± 1 std band per group.

    Where only some runs of a group are that long, the mean of those runs goes on dotted, without
    a band. Vertical grey lines mark the table's budgets.
    """
    fig = Figure(figsize=(7, 4.5), layout="constrained")  # no pyplot: no global state
    ax = fig.add_subplot()
    for i, group in enumerate(comparison.groups):
        _plot_group(ax, group, f"C{i % 10}")
    for budget in comparison.budgets:
        ax.axvline(budget, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xlabel("children evaluated")
    ax.set_ylabel(comparison.metric_label)
    ax.set_title(f"{_capital(comparison.metric_label)} (mean ± 1 std over runs)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.savefig(path, dpi=120, format="png")


def _plot_group(ax: Axes, group: Group, color: str) -> None:
    band = group_band(group)
    runs = len(group.runs)
    full = sum(1 for n in band.n if n == runs)  # n falls as x grows: the first `full` have all
    xs = list(range(1, len(band.mean) + 1))
    low = [m - s for m, s in zip(band.mean, band.std, strict=True)]
    high = [m + s for m, s in zip(band.mean, band.std, strict=True)]
    label = f"{group.label} (n={runs})"
    ax.plot(xs[:full], band.mean[:full], color=color, label=label, linewidth=1.8)
    ax.fill_between(xs[:full], low[:full], high[:full], color=color, alpha=0.2, linewidth=0)
    if full < len(xs):
        ax.plot(xs[full - 1 :], band.mean[full - 1 :], color=color, linestyle=":")


def write_outputs(comparison: Comparison, out_dir: Path) -> list[Path]:
    """Write comparison.md, comparison.json and comparison.png into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js, png = (out_dir / name for name in OUTPUTS)
    md.write_text(markdown_table(comparison))
    js.write_text(json.dumps(comparison_json(comparison), indent=2, allow_nan=False) + "\n")
    plot_comparison(comparison, png)
    return [md, js, png]


def default_out_dir(paths: Sequence[Path]) -> Path:
    """The multirun directory when exactly one was given, else the current directory."""
    multiruns = [p for p in paths if is_multirun_dir(p)]
    return multiruns[0] if len(multiruns) == 1 else Path.cwd()
