"""What the user sees in the terminal: a progress bar (or one line per step) and a summary."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


def make_console() -> Console:
    """A console for search output: wide enough for architecture strings in log files."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


class SearchProgress:
    """A rich progress bar over what a search counts (children, epochs), with a status.

    When the output is not a terminal (a log file, CI, a multirun job) the loop's lines (one per
    controller step or epoch) are printed instead, so the log stays readable.
    """

    def __init__(self, total: int, enabled: bool = True, console: Console | None = None) -> None:
        self.console = console or make_console()
        self.total = total
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.task = self.progress.add_task("search", total=total, status="")

    def __enter__(self) -> SearchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, completed: int, status: str) -> None:
        """Move the bar to `completed` (children, epochs) with `status` beside it."""
        self.progress.update(self.task, completed=completed, status=status)

    def line(self, *fields: str) -> None:
        """One line of `fields` joined by " | ", printed only when there is no live bar."""
        if self.live or not self.enabled:
            return
        self.console.print(" | ".join(fields), highlight=False, markup=False)


def summary_table(rows: Sequence[tuple[str, str]], title: str) -> Table:
    """A two-column table of (what, value) rows."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(Text(name), Text(value))  # Text: "[...]" in archs is not markup
    return table
