"""Users look at TensorBoard: start the real server on loopback and read its HTTP API."""

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_tensorboard_serves_the_reward_scalars(finished_run):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(finished_run),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        tags = {}
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                tags = get_json(f"{base}/data/plugin/scalars/tags")
                if tags.get(".", {}).get("reward/mean"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert "reward/mean" in tags.get(".", {}), tags
        query = urllib.parse.urlencode({"run": ".", "tag": "reward/best_so_far"})
        points = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
        assert [step for _, step, _ in points] == [1, 2]
        best = json.loads((finished_run / "best.json").read_text())["reward"]
        assert points[-1][2] == pytest.approx(best)
        # The layout TensorBoard's custom-scalars page opens on.
        layout = get_json(f"{base}/data/plugin/custom_scalars/layout")
        titles = [c["title"] for c in layout["category"]]
        assert titles[0] == "1 reward"
        # The same curve against children evaluated (3 per update in this run).
        query = urllib.parse.urlencode({"run": ".", "tag": "reward_by_children/best_so_far"})
        points = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
        assert [step for _, step, _ in points] == [3, 6]
        # HParams: the curated settings, booleans as text, metrics always declared.
        request = urllib.request.Request(
            f"{base}/data/plugin/hparams/experiment",
            data=json.dumps({"experimentName": ""}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            experiment = json.loads(response.read())
        names = {h["name"] for h in experiment["hparamInfos"]}
        assert {"controller.name", "seed", "search_space.name", "budget.batch"} <= names
        assert "child.lr" not in names and "cache" not in names  # the full config: summary.json
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"reward/best_so_far", "best/val_acc", "best/test_acc"} <= metrics
        # Nothing that was not measured, and no stray one-point hparams cards.
        scalars = set(tags["."])
        assert not [t for t in scalars if t.startswith("hparams/")]
    finally:
        server.terminate()
        server.wait(timeout=10)
