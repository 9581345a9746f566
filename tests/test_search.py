import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from app.config import BudgetConfig
from app.console import SearchProgress
from app.loops.multi_trial import MultiTrialSearch
from app.run_files import RunFiles
from app.tb_log import SearchLogger, flat_hparams, unused_settings
from child.evaluation.evaluator import InTurnEvaluator
from child.evaluation.result import ChildResult
from child.spaces.macro.space import MacroSpace
from core.architecture import Architecture
from tests.helpers import TINY, run_search


def read_children(run_dir):
    return [json.loads(line) for line in (run_dir / "children.jsonl").read_text().splitlines()]


def test_children_jsonl_has_one_line_per_child_with_every_field(finished_run):
    children = read_children(finished_run)
    evaluated = [c for c in children if not c["cached"]]
    assert [c["index"] for c in evaluated] == list(range(6))
    for c in children:
        for key in ("index", "step", "arch", "reward", "val_acc", "params", "seconds", "status"):
            assert key in c
        assert Architecture.from_dict(c["arch"]).space == "macro"
        assert 0.0 <= c["val_acc"] <= 1.0
    assert {c["step"] for c in children} == {1, 2}


def test_best_json_is_the_best_child_with_its_test_accuracy(finished_run):
    best = json.loads((finished_run / "best.json").read_text())
    children = [c for c in read_children(finished_run) if not c["cached"]]
    assert best["reward"] == max(c["reward"] for c in children)
    assert 0.0 < best["test_acc"] <= 1.0
    assert "retrained" in best["test_note"]


def test_tensorboard_events_hold_scalars_policy_shares_text_and_hparams(finished_run):
    events = EventAccumulator(str(finished_run), size_guidance={"tensors": 0})
    events.Reload()
    tags = events.Tags()
    for tag in (
        "reward/mean",
        "reward/max",
        "reward/best_so_far",
        "controller/baseline",
        "controller/advantage",
        "controller/entropy",
        "controller/loss",
        "child/val_acc_mean",
        "child/params_mean",
        "child/seconds_mean",
    ):
        assert tag in tags["scalars"], tag
        assert [e.step for e in events.Scalars(tag)] == [1, 2]
    # The policy, by option name: shares of recent proposals that sum to 1 per decision.
    ops = [t for t in tags["scalars"] if t.startswith("policy/layer0.op/")]
    assert "policy/layer0.op/conv3" in ops
    for step in (1, 2):
        shares = [events.Scalars(t)[step - 1].value for t in ops]
        assert sum(shares) == pytest.approx(1.0)
    assert "policy/layer3.skips/from_0" in tags["scalars"]
    assert not tags["histograms"]  # option indices on a histogram's axis read as nothing
    assert "best/architecture/text_summary" in tags["tensors"]
    best = json.loads((finished_run / "best.json").read_text())
    assert events.Scalars("reward/best_so_far")[-1].value == pytest.approx(best["reward"])
    # The same curve against children evaluated (3 per update here), for runs of any batch.
    by_children = events.Scalars("reward_by_children/best_so_far")
    assert [e.step for e in by_children] == [3, 6]
    assert by_children[-1].value == pytest.approx(best["reward"])
    # The HParams metrics are curves; the final ones are written once, at the last update.
    assert [e.step for e in events.Scalars("best/test_acc")] == [2]
    assert events.Scalars("best/test_acc")[0].value == pytest.approx(best["test_acc"])
    assert not [t for t in tags["scalars"] if t.startswith("hparams/")]  # no stray cards
    assert events.Scalars("search/failed_share")[-1].value == 0.0
    assert "custom_scalars__config__" in tags["tensors"]  # the layout TensorBoard opens on


def test_hparams_are_a_curated_set_with_booleans_as_text():
    cfg = {
        "controller": {"name": "lstm", "lr": 0.01, "hidden_size": 64},
        "seed": 3,
        "cache": True,
        "budget": {"children": 100, "batch": 2, "depth": None},
    }
    assert flat_hparams(cfg) == {
        "controller.name": "lstm",
        "controller.lr": 0.01,
        "seed": 3,
        "budget.children": 100,
        "budget.batch": 2,
        "budget.depth": "null",
    }


def test_hparams_leave_out_the_settings_a_run_did_not_use():
    cfg = {
        "controller": {"name": "evolution", "population": 10},
        "evaluator": {"name": "table"},
        "dataset": {"name": "mnist1d"},
        "budget": {"depth": 0},
    }
    assert flat_hparams(cfg)["dataset.name"] == "mnist1d"
    table_run = flat_hparams(cfg, unused_settings(reads_data=False))
    assert "dataset.name" not in table_run and table_run["budget.depth"] == 0
    assert table_run["controller.population"] == 10
    shared = flat_hparams(cfg, unused_settings(reads_data=True, pipelined=False))
    assert "budget.depth" not in shared and shared["dataset.name"] == "mnist1d"


def test_summary_prints_best_arch_val_and_test_accuracy(tmp_path):
    summary, printed = run_search(tmp_path, [*TINY, "budget.children=2", "budget.batch=2"])
    assert "Search summary" in printed
    assert summary["best"]["arch_str"] in printed
    assert "validation accuracy (search)" in printed
    assert "test accuracy (retrained" in printed
    assert summary["children"] == 2


class ScriptedController:
    """Proposes a fixed list of architectures, to test the loop's bookkeeping."""

    def __init__(self, archs):
        self.archs = list(archs)
        self.learned = []

    def propose(self, n):
        out, self.archs = self.archs[:n], self.archs[n:]
        return out

    def learn(self, archs, rewards):
        self.learned.append((list(archs), list(rewards)))
        return {}

    def favourite(self):
        return None

    def state_dict(self):
        return {}


class CountingEvaluator(InTurnEvaluator):
    def __init__(self):
        super().__init__()
        self.trained = []

    def evaluate_one(self, job):
        self.trained.append(job.arch)
        return ChildResult(
            job.index, job.arch, reward=len(self.trained) / 10, val_acc=0.5, params=1, seconds=0.0
        )


TOY_SPACE = MacroSpace(num_layers=2, ops=("conv3", "identity"), widths=(8,))


def arch(name):
    """Three distinct toy architectures, "a", "b" and "c"."""
    ops = {"a": [0, 0], "b": [0, 1], "c": [1, 1]}[name]
    return TOY_SPACE.decode([ops[0], 0, ops[1], 0, 0])


def make_search(tmp_path, archs, children, batch, cache=True):
    files = RunFiles(tmp_path)
    controller, evaluator = ScriptedController(archs), CountingEvaluator()
    logger = SearchLogger(tmp_path, TOY_SPACE)
    search = MultiTrialSearch(
        controller,
        evaluator,
        BudgetConfig(children=children, batch=batch),
        0,
        files,
        logger,
        SearchProgress(children, enabled=False),
        cache=cache,
    )
    return search, controller, evaluator


def test_cached_repeats_are_learned_from_logged_and_not_counted(tmp_path):
    a, b, c = arch("a"), arch("b"), arch("c")
    search, controller, evaluator = make_search(tmp_path, [a, b, a, a, c], children=3, batch=2)
    state = search.run()
    assert evaluator.trained == [a, b, c]
    assert state.evaluated == 3 and state.cached == 2 and state.sampled == 5
    # Each step asks for at most the children still owed; repeats are learned from with the
    # stored reward.
    assert controller.learned == [([a, b], [0.1, 0.2]), ([a], [0.1]), ([a], [0.1]), ([c], [0.3])]
    lines = read_children(tmp_path)
    assert [line["cached"] for line in lines] == [False, False, True, True, False]
    assert [line["index"] for line in lines] == [0, 1, 0, 0, 2]


def test_without_cache_every_proposal_is_trained(tmp_path):
    a = arch("a")
    search, _, evaluator = make_search(tmp_path, [a, a, a], children=3, batch=3, cache=False)
    assert search.run().evaluated == 3
    assert len(evaluator.trained) == 3


def test_sample_cap_stops_a_converged_controller(tmp_path):
    a = arch("a")
    search, _, evaluator = make_search(tmp_path, [a] * 100, children=5, batch=1)
    search.budget.max_samples = 10
    state = search.run()
    assert state.evaluated == 1 and state.sampled == 10
    assert len(evaluator.trained) == 1


def without_timing(run_dir):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_children(run_dir)]


def test_same_seed_and_config_give_the_same_architectures_and_rewards(tmp_path):
    overrides = [*TINY, "test_best=false"]
    run_search(tmp_path / "a", [*overrides, "seed=3"])
    run_search(tmp_path / "b", [*overrides, "seed=3"])
    run_search(tmp_path / "c", [*overrides, "seed=4"])
    assert without_timing(tmp_path / "a") == without_timing(tmp_path / "b")
    assert without_timing(tmp_path / "a") != without_timing(tmp_path / "c")


def differs_in_one_decision(space, a, b):
    before = {d.name: x for d, x in space.walk(space.encode(a))}
    after = {d.name: x for d, x in space.walk(space.encode(b))}
    return sum(before.get(k) != after.get(k) for k in before.keys() | after.keys()) == 1


@pytest.mark.parametrize("controller", ["random", "evolution"])
@pytest.mark.parametrize(
    "space",
    [
        [*TINY, "budget.children=8", "budget.batch=2"],
        ["search_space=nb201", "evaluator=table", "budget.children=40", "budget.batch=4"],
    ],
    ids=["macro-trained", "nb201-table"],
)
def test_baselines_run_on_every_space_through_the_same_loop(tmp_path, controller, space):
    extra = (
        ["controller.population=4", "controller.sample_size=2"] if controller == "evolution" else []
    )
    summary, _ = run_search(tmp_path, [*space, f"controller={controller}", *extra])
    children = [c for c in read_children(tmp_path) if not c["cached"]]
    assert summary["controller"] == controller
    assert len(children) == summary["config"]["budget"]["children"]
    if controller == "evolution":
        from child.spaces import build_space, space_config

        saved = summary["config"]["search_space"]
        space_obj = build_space(space_config(saved["name"], saved))
        archs = [Architecture.from_dict(c["arch"]) for c in read_children(tmp_path)]
        # After the first four (random) members, every child mutates one decision of a member.
        for i, arch in enumerate(archs[4:], start=4):
            assert any(differs_in_one_decision(space_obj, old, arch) for old in archs[:i])


def test_a_wall_clock_budget_stops_the_search(tmp_path):
    summary, _ = run_search(tmp_path, [*TINY, "budget.children=1000", "budget.minutes=0.0001"])
    assert summary["steps"] == 1
    assert summary["children"] == 3  # one step of budget.batch children, then time is up
