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
    """A rich progress bar over children evaluated, showing the current and best reward.

    When the output is not a terminal (a log file, CI, a multirun job) it prints one plain line
    per controller step instead, so the log stays readable.
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

    def child_done(self, evaluated: int, reward: float, best: float) -> None:
        """Move the bar after one evaluated child."""
        status = f"reward {reward:.4f}  best {best:.4f}"
        self.progress.update(self.task, completed=evaluated, status=status)

    def step_done(
        self,
        step: int,
        evaluated: int,
        rewards: Sequence[float],
        best: float,
        entropy: float | None,
    ) -> None:
        """After a controller update: one line when there is no live bar."""
        if self.live or not self.enabled or not rewards:
            return
        extra = f" | entropy {entropy:.2f}" if entropy is not None else ""
        self.console.print(
            f"step {step:4d} | children {evaluated}/{self.total} | reward mean "
            f"{sum(rewards) / len(rewards):.4f} max {max(rewards):.4f} | best {best:.4f}{extra}",
            highlight=False,
            markup=False,
        )

    def epoch_done(
        self,
        epoch: int,
        epochs: int,
        train_loss: float,
        reward_mean: float,
        entropy: float | None,
        param_free: float | None,
    ) -> None:
        """After a shared-weight epoch (evaluator=shared): the bar, or one line.

        `param_free` is None for a space without parameter-free ops (nothing to watch).
        """
        self.progress.update(
            self.task, completed=epoch, status=f"loss {train_loss:.3f}  reward {reward_mean:.4f}"
        )
        if self.live or not self.enabled:
            return
        extra = f" | entropy {entropy:.2f}" if entropy is not None else ""
        self.console.print(
            f"epoch {epoch:3d}/{epochs} | supernet loss {train_loss:.4f} | reward mean "
            f"{reward_mean:.4f}{extra}{_param_free(param_free)}",
            highlight=False,
            markup=False,
        )

    def darts_epoch_done(
        self,
        epoch: int,
        epochs: int,
        train_loss: float,
        val_loss: float,
        argmax_acc: float,
        entropy: float,
        param_free: float | None,
    ) -> None:
        """After a DARTS epoch (controller=darts): the bar, or one line."""
        self.progress.update(
            self.task, completed=epoch, status=f"loss {train_loss:.3f}  argmax {argmax_acc:.4f}"
        )
        if self.live or not self.enabled:
            return
        self.console.print(
            f"epoch {epoch:3d}/{epochs} | supernet loss {train_loss:.4f} | val loss (mixed) "
            f"{val_loss:.4f} | argmax val acc (shared) {argmax_acc:.4f} | alpha entropy "
            f"{entropy:.2f}{_param_free(param_free)}",
            highlight=False,
            markup=False,
        )


def _param_free(share: float | None) -> str:
    return "" if share is None else f" | parameter-free {100 * share:.0f}%"


def summary_table(rows: Sequence[tuple[str, str]], title: str) -> Table:
    """A two-column table of (what, value) rows."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        table.add_row(Text(name), Text(value))  # Text: "[...]" in archs is not markup
    return table
