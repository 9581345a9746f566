"""What training one child returns: its reward and everything logged beside it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from core.architecture import Architecture


class Status(StrEnum):
    """How a child's evaluation ended (stored in children.jsonl as the plain string)."""

    OK = "ok"
    DIVERGED = "diverged"  # the training loss became NaN or infinite
    OOM = "oom"  # the device ran out of memory
    ERROR = "error"  # any other failure: building, training or looking the child up


@dataclass(frozen=True)
class ChildResult:
    """The outcome of one child: reward, validation accuracy, size, time and status.

    `reward` is what the controller learns from. `val_acc` is the validation accuracy after
    the last epoch. A child that failed (`status` other than "ok") has reward and val_acc 0.
    `test_acc` stays None during search: test data is used only for the final report.
    `compile_seconds` is set only when the child was trained with torch.compile: the wall time
    of its first training step, compilation included (and included in `seconds`). `flops` and
    `report` come from a table (`evaluator=table`): the child's FLOPs, and the report columns
    looked up beside its reward (e.g. 200-epoch test accuracies), which no controller sees.
    `val_metrics` holds every validation metric of a trained child after its last epoch
    (accuracy, balanced accuracy, macro recall, macro F1), whichever the reward used.
    """

    index: int
    arch: Architecture
    reward: float
    val_acc: float
    params: int
    seconds: float | None  # wall time of its evaluation; None when nothing was timed (a table)
    status: str = Status.OK
    message: str = ""
    val_curve: tuple[float, ...] = field(default_factory=tuple)
    test_acc: float | None = None
    latency_ms: float | None = None
    compile_seconds: float | None = None
    flops: int | None = None
    report: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)  # every metric, last epoch

    @classmethod
    def failed(
        cls,
        index: int,
        arch: Architecture,
        status: Status,
        message: str,
        params: int = 0,
        seconds: float | None = 0.0,
    ) -> ChildResult:
        """A child that could not be scored: reward and val_acc 0, with what went wrong."""
        return cls(
            index=index,
            arch=arch,
            reward=0.0,
            val_acc=0.0,
            params=params,
            seconds=seconds,
            status=status,
            message=message[:300],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the architecture is nested as its own dict."""
        # Field by field: dataclasses.asdict would deep-copy the architecture first.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["arch"] = self.arch.to_dict()
        data["status"] = str(self.status)  # plain text: checkpoints load with weights_only
        data["val_curve"] = list(self.val_curve)
        data["report"] = dict(self.report)
        data["val_metrics"] = dict(self.val_metrics)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChildResult:
        """Inverse of `to_dict` (extra keys, such as the search step, are ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["arch"] = Architecture.from_dict(data["arch"])
        kwargs["val_curve"] = tuple(data.get("val_curve", ()))
        kwargs["report"] = dict(data.get("report") or {})
        kwargs["val_metrics"] = dict(data.get("val_metrics") or {})
        return cls(**kwargs)
