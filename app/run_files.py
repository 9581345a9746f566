"""The files of a run directory: children.jsonl, best.json and the resumable checkpoint."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from core.errors import ConfigError

CHILDREN = "children.jsonl"
BEST = "best.json"
CHECKPOINT = "checkpoint.pt"


class DamagedChildren(ConfigError):
    """A line of children.jsonl before its last is not a JSON record: the run cannot be read."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


class RunFiles:
    """Reads and writes the files of one run directory."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.children_path = self.dir / CHILDREN
        self.best_path = self.dir / BEST
        self.checkpoint_path = self.dir / CHECKPOINT

    def append_child(self, record: dict[str, Any]) -> None:
        """Append one line to children.jsonl (it survives the process being killed)."""
        with self.children_path.open("a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def sync_children(self) -> None:
        """Force children.jsonl to disk, so that a checkpoint never counts lines a crash lost."""
        if self.children_path.exists():
            with self.children_path.open("a") as f:
                os.fsync(f.fileno())

    def read_children(self, n: int | None = None) -> list[dict[str, Any]]:
        """The records of children.jsonl: all of them, or exactly its first `n` lines.

        With `n`, lines after the first `n` are not read (they may be torn by a crash), and a
        first-`n` line that is missing or not a JSON record raises ConfigError: the file is
        then left exactly as it is. Without `n`, a damaged last line (a running search's line
        torn mid-write) is left out, and a damaged line before it raises DamagedChildren.
        """
        if not self.children_path.exists():
            lines = []
        else:
            lines = self.children_path.read_text(errors="replace").splitlines()
        if n is not None and len(lines) < n:
            raise ConfigError(
                f"{self.children_path} has {len(lines)} lines but the checkpoint counts {n}"
            )
        records = []
        for number, line in enumerate(lines[:n] if n is not None else lines, start=1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"a JSON {type(record).__name__}, not a record")
            except ValueError as err:
                if n is None and number == len(lines):
                    break  # torn by a crash, or being written now
                if n is None:
                    raise DamagedChildren(
                        f"{self.children_path.name} line {number} of {len(lines)} is damaged "
                        f"({err})"
                    ) from err
                raise ConfigError(
                    f"{self.children_path} line {number} is damaged ({err}); it is one of the "
                    f"{n} lines the checkpoint counts"
                ) from err
            records.append(record)
        return records

    def records(self) -> list[str]:
        """The names of the record files that hold something (children.jsonl, best.json)."""
        return [
            path.name
            for path in (self.children_path, self.best_path)
            if path.is_file() and path.stat().st_size > 0
        ]

    def clear_torn_writes(self) -> None:
        """Remove the temporary files of atomic writes a killed search left half-done."""
        for path in (self.children_path, self.best_path, self.checkpoint_path):
            for torn in self.dir.glob(f".{path.name}.*.tmp"):
                torn.unlink(missing_ok=True)

    def keep_children(self, records: list[dict[str, Any]]) -> None:
        """Rewrite children.jsonl as exactly `records` (those the checkpoint knows of)."""
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        atomic_write_bytes(self.children_path, text.encode())

    def write_best(self, record: dict[str, Any]) -> None:
        """Replace best.json."""
        atomic_write_json(self.best_path, record)

    def read_best(self) -> dict[str, Any] | None:
        """The content of best.json, or None."""
        return json.loads(self.best_path.read_text()) if self.best_path.exists() else None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomically replace checkpoint.pt with `state` (tensors and plain values only)."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint, loaded with `weights_only=True`, or None when there is none.

        A file that cannot be loaded (truncated, empty, not a checkpoint) raises ConfigError.
        """
        if not self.checkpoint_path.exists():
            return None
        try:
            checkpoint = torch.load(self.checkpoint_path, weights_only=True)
        except Exception as err:  # torch raises many types for a damaged file
            raise ConfigError(
                f"{self.checkpoint_path} cannot be loaded ({type(err).__name__}: "
                f"{' '.join(str(err).split())[:200]})"
            ) from err
        if not isinstance(checkpoint, dict) or "state" not in checkpoint:
            raise ConfigError(f"{self.checkpoint_path} is not a search checkpoint")
        return checkpoint
