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
    finally:
        server.terminate()
        server.wait(timeout=10)
