"""Fill the `params` and `flops` columns of the NAS-Bench-201 table from the project's own network.

Run: `python -m child.spaces.nb201.table_costs` (rewrites child/spaces/nb201/tables/nb201.csv in
place, about 10 s), or `python -m child.spaces.nb201.table_costs --check 50` to verify 50 random
rows without writing anything.
`--table PATH` works on another table of nb201 cells (same `arch` column and format).

For every cell it computes, for the benchmark's CIFAR-10 setting (NB201SpaceConfig defaults:
C=16 channels, N=5 cells per stage; 10 classes; a 3×32×32 input):

- `params`: trainable parameters of the whole network `child.spaces.build_network` builds
  (`NB201Net`), exactly as `child.evaluation.costs.count_params` counts them: stem, cells, residual
  reductions, BatchNorm affine weights and the classifier. A "none" edge has no weights; every
  other conv edge counts, even in cells whose output would not depend on it.
- `flops`: forward FLOPs for ONE image, as `torch.utils.flop_counter.FlopCounterMode` counts
  them: convolutions and matmuls (the classifier) only, a multiply-add being 2 FLOPs. Pooling,
  BatchNorm, ReLU, the element-wise additions of the cells and shortcuts, the "none" op's
  multiply by 0 and the global average are not counted. Halve it for multiply-accumulates
  (MACs), the unit NAS-Bench-201 itself reports as "FLOPs".

Shortcut: building and running all 15,625 networks takes over 15 minutes on one core. Both
costs are instead a sum of per-edge contributions: the network with every edge "none" (stem,
reductions, lastact, classifier) plus, for each edge, what its op adds over "none" in the 15
cells that repeat it. Those 1 + 6 × (ops - 1) numbers are measured on real networks (one op on
one edge, "none" elsewhere); then each cell is their sum. Additivity holds because the ops of
a cell are independent modules of fixed shapes, all of them run in the forward pass (there is
no pruning of edges whose output is unused). The script checks it anyway: after the table is
computed, `--verify` random rows (default 50, plus the all-"none" and all-3×3 cells) are rebuilt
as real networks and counted directly, and any difference aborts before the table is written.

The table is rewritten atomically (a temporary file in the same folder, then os.replace); every
other column keeps its exact text. Existing `params`/`flops` columns are recomputed in place,
otherwise the two columns are appended.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.progress import track
from torch.utils.flop_counter import FlopCounterMode

from child.evaluation.costs import count_params
from child.spaces import build_network
from child.spaces.nb201.space import (
    NB201_OPS,
    TABLE,
    NB201SpaceConfig,
    edge_ops,
    parse_nb201_string,
)

INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
COLUMNS = ("params", "flops")
NUM_EDGES = 6

Cost = tuple[int, int]  # (params, flops)


def real_cost(ops: Sequence[str]) -> Cost:
    """Params and forward FLOPs (one image) of the real CIFAR-10 NB201 network of this cell."""
    arch = parse_nb201_string(_arch_string(ops))
    net = build_network(arch, INPUT_SHAPE, NUM_CLASSES, NB201SpaceConfig())
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, *INPUT_SHAPE))
    return count_params(net), int(counter.get_total_flops())


def _arch_string(ops: Sequence[str]) -> str:
    """The benchmark notation of six edge ops (goes through the parser, like table rows do)."""
    o = list(ops)
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def edge_contributions() -> tuple[Cost, dict[tuple[int, str], Cost]]:
    """The all-"none" network's cost, and what each (edge, op) adds to it, from real networks."""
    base = real_cost(["none"] * NUM_EDGES)
    extra: dict[tuple[int, str], Cost] = {}
    pairs = [(e, op) for e in range(NUM_EDGES) for op in NB201_OPS if op != "none"]
    for edge, op in track(pairs, description="per-edge costs"):
        ops = ["none"] * NUM_EDGES
        ops[edge] = op
        params, flops = real_cost(ops)
        extra[edge, op] = (params - base[0], flops - base[1])
    for edge in range(NUM_EDGES):
        extra[edge, "none"] = (0, 0)
    return base, extra


def summed_cost(ops: Sequence[str], base: Cost, extra: dict[tuple[int, str], Cost]) -> Cost:
    """The cell's cost as the base plus its edges' contributions."""
    params, flops = base
    for edge, op in enumerate(ops):
        params += extra[edge, op][0]
        flops += extra[edge, op][1]
    return params, flops


def read_table(path: Path) -> tuple[list[list[str]], str]:
    """The table's rows as lists of field texts (header first), and its line terminator.

    Split on commas rather than with the csv module so that rewriting keeps each field's exact
    text; a quoted field would make that wrong, so one is refused.
    """
    text = path.read_text(encoding="utf-8")
    if '"' in text:
        sys.exit(f"error: {path} has quoted fields; this script only rewrites plain CSV")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()  # the final line terminator
    rows = [line.split(",") for line in lines]
    if not rows or "arch" not in rows[0]:
        sys.exit(f"error: {path} has no header with an `arch` column")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            sys.exit(f"error: {path} line {number} has {len(row)} fields, the header {width}")
    return rows, newline


def write_table(path: Path, rows: list[list[str]], newline: str) -> None:
    """Write `rows` to `path` atomically, keeping the old file's permissions."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write("".join(",".join(row) + newline for row in rows))
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; the table should stay readable as before.
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify(
    cells: list[tuple[str, ...]],
    costs: list[Cost],
    indices: Sequence[int],
    label: str,
) -> list[str]:
    """Rebuild the rows at `indices` as real networks; a message per row whose cost differs."""
    errors = []
    for i in track(indices, description=f"verifying {label}"):
        real = real_cost(cells[i])
        if real != costs[i]:
            errors.append(
                f"line {i + 2} {_arch_string(cells[i])}: {label} (params, flops) {costs[i]}, "
                f"real network {real}"
            )
    return errors


def sample_rows(cells: list[tuple[str, ...]], n: int, seed: int) -> list[int]:
    """`n` random row indices plus the all-"none" and all-3×3 cells, if the table has them."""
    rows = random.Random(seed).sample(range(len(cells)), min(n, len(cells)))
    for op in ("none", "nor_conv_3x3"):
        extreme = (op,) * NUM_EDGES
        if extreme in cells and cells.index(extreme) not in rows:
            rows.append(cells.index(extreme))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the costs, verify a sample against real networks, and write (or only check)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", type=Path, default=TABLE, help="the CSV (default: bundled)")
    parser.add_argument(
        "--check",
        type=int,
        metavar="N",
        help="only verify N random rows against real networks (and the shipped columns, if "
        "any); write nothing",
    )
    parser.add_argument(
        "--verify", type=int, default=50, metavar="N", help="rows rebuilt before writing"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the verified sample")
    args = parser.parse_args(argv)
    # One thread: the job is many tiny forward passes, and the machine is shared.
    torch.set_num_threads(1)

    rows, newline = read_table(args.table)
    header = rows[0]
    arch_col = header.index("arch")
    try:
        cells = [edge_ops(parse_nb201_string(row[arch_col])) for row in rows[1:]]
    except ValueError as err:
        sys.exit(f"error: {args.table}: {err}")

    base, extra = edge_contributions()
    costs = [summed_cost(ops, base, extra) for ops in track(cells, description="summing")]

    if args.check is not None:
        indices = sample_rows(cells, args.check, args.seed)
        errors = verify(cells, costs, indices, "summed")
        if all(c in header for c in COLUMNS):
            cols = [header.index(c) for c in COLUMNS]
            shipped = [(int(r[cols[0]]), int(r[cols[1]])) for r in rows[1:]]
            errors += verify(cells, shipped, indices, "shipped")
        else:
            print(f"{args.table} has no {'/'.join(COLUMNS)} columns yet; checked the sums only")
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{len(indices)} rows checked, {len(errors)} mismatches")
        return 1 if errors else 0

    errors = verify(cells, costs, sample_rows(cells, args.verify, args.seed), "summed")
    if errors:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        print("the per-edge sums disagree with the real network; table not written")
        return 1

    cols = []
    for name in COLUMNS:
        if name not in header:
            for row in rows:
                row.append("")
            header[-1] = name
        cols.append(header.index(name))
    for row, (params, flops) in zip(rows[1:], costs, strict=True):
        row[cols[0]], row[cols[1]] = str(params), str(flops)
    write_table(args.table, rows, newline)
    p = [c[0] for c in costs]
    f = [c[1] for c in costs]
    print(
        f"wrote {len(costs)} rows to {args.table}: params {min(p):,}–{max(p):,}, "
        f"flops {min(f):,}–{max(f):,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
