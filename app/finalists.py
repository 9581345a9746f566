"""Top-k: the cheap score's best candidates are each trained alone, and the best of them is kept.

A cheap score (shared weights, a zero-cost proxy) ranks architectures only roughly
(BENCHMARKS.md section 14): its first place is often not the best architecture it saw, while
its first few usually hold one. With `top_k=k`, after the search the loop's ranking
(`SearchLoop.ranked`: derive's order with shared weights, the children's rewards otherwise)
gives k distinct architectures; each is trained alone with the search recipe (`child.*`) and
its own child seed, and the one with the highest stand-alone reward becomes best.json. The
cheap score chooses which k to train; only stand-alone training chooses among them.

finalists.json records every finalist (cheap score and rank, stand-alone validation accuracy,
reward, seconds). When `test_best` is on, each finalist's test accuracy is measured in the same
training, and only the pick's is kept: the choice never sees a test number. A search killed
while its finalists train resumes without training again the ones already done
(finalists.partial.json, written after each).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from rich.console import Console

from app.loops.base import SearchLoop, duration
from app.parts import SearchParts
from app.run_files import atomic_write_json
from child.evaluation.config import ChildConfig
from child.evaluation.evaluator import ChildJob, child_seed, evaluate_child
from child.evaluation.result import Status
from child.evaluation.trainer import resolve_device
from child.spaces import format_arch
from core.errors import ConfigError, require

log = logging.getLogger(__name__)
FINALISTS = "finalists.json"
# The finalists trained so far, kept after each one so that a resumed search skips them.
PARTIAL = "finalists.partial.json"
# Evaluators whose rewards are cheap estimates; a trained child's reward needs no second look.
CHEAP_EVALUATORS = ("shared", "proxy")
NOTE = (
    "the top {k} of the cheap score ({what}), each trained alone with the search recipe; "
    "the pick is the highest stand-alone reward (search-time validation)"
)


def check_top_k(top_k: int, evaluator: str, controller: str) -> None:
    """Refuse a top_k that cannot work: a count >= 0, only over a cheap score with a ranking."""
    require(top_k >= 0, "top_k", top_k, "an int >= 0 (0: off)")
    if top_k and evaluator not in CHEAP_EVALUATORS:
        raise ConfigError(
            f"top_k={top_k} is invalid with evaluator={evaluator}: expected 0, or a cheap score "
            f"to pick finalists from (evaluator={' or '.join(CHEAP_EVALUATORS)}); "
            f"evaluator={evaluator}'s rewards are not estimates"
        )
    if top_k and controller == "darts":
        raise ConfigError(
            f"top_k={top_k} is invalid with controller=darts: expected 0 (DARTS derives one "
            "architecture, the argmax, so there is no ranking to take finalists from)"
        )


def train_finalists(
    top_k: int,
    loop: SearchLoop,
    parts: SearchParts,
    child: ChildConfig,
    reward: Any,
    seed: int,
    evaluate_test: bool,
    console: Console,
) -> dict[str, Any]:
    """Train the loop's top `top_k` alone; make the best of them best.json; the summary section."""
    assert parts.data is not None  # check_top_k allows only evaluators that read data
    files = loop.files
    ranked = loop.ranked()[:top_k]
    data = parts.data.to(resolve_device(child.device))
    first = loop.state.evaluated + 1  # past every child and the derived pick: fresh seeds
    partial = files.dir / PARTIAL
    done = json.loads(partial.read_text()) if partial.exists() else []
    rows, tests = [], {}
    started = time.perf_counter()
    for rank, (arch, cheap) in enumerate(ranked, start=1):
        index = first + rank - 1
        arch_str = format_arch(arch)
        kept = [r for r in done if (r["cheap_rank"], r["arch_str"]) == (rank, arch_str)]
        if kept:  # trained before a kill: training it again would give the same numbers
            row = kept[0]
            tests[rank] = row.pop("own_test_acc")
            rows.append(row)
            continue
        job = ChildJob(index, arch, child_seed(seed, index))
        result = evaluate_child(job, data, parts.space_cfg, child, reward, evaluate_test)
        tests[rank] = result.test_acc
        row = {
            **result.to_dict(),
            "arch_str": arch_str,
            "test_acc": None,
            "cheap_rank": rank,
            "cheap_score": cheap,
        }
        rows.append(row)
        kept_so_far = [{**r, "own_test_acc": tests[r["cheap_rank"]]} for r in rows]
        atomic_write_json(partial, kept_so_far)
        console.print(
            f"finalist {rank}/{len(ranked)}: {row['arch_str']}  cheap score {cheap:.4f}  "
            f"alone: val {result.val_acc:.4f} ({result.status}, {duration(result.seconds or 0)})",
            markup=False,
        )
    ok = [r for r in rows if r["status"] == Status.OK]
    note = NOTE.format(k=top_k, what=loop.ranked_by())
    pick = max(ok, key=lambda r: r["reward"]) if ok else None  # ties: the better cheap rank
    if pick is None:
        log.warning("top_k=%d: no finalist trained; best.json keeps the cheap score's pick", top_k)
    else:
        best = {**pick, "test_acc": tests[pick["cheap_rank"]], "picked_by": f"top_k={top_k}"}
        best["note"] = note
        loop.state.best = best
        files.write_best(best)
    picked = pick["cheap_rank"] if pick else None
    seconds = time.perf_counter() - started
    atomic_write_json(
        files.dir / FINALISTS, {"note": note, "k": top_k, "picked": picked, "finalists": rows}
    )
    partial.unlink(missing_ok=True)
    return {
        "k": top_k,
        "trained": len(rows),
        "picked_cheap_rank": picked,
        "seconds": round(seconds, 2),
        "note": note,
    }
