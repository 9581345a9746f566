"""Users look at TensorBoard: start the real server on loopback and read its HTTP API."""

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from app.tb_log import LAYOUT
from tests.helpers import ROOT

SCREENSHOT = ROOT / "benchmarks" / "tensorboard_screenshot.py"


CURVE = "reward_by_children/best_so_far"


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
        # The best-so-far curves are margin charts, which the page never smooths.
        charts = layout["category"][0]["chart"]
        margins = [c["margin"]["series"][0] for c in charts if "margin" in c]
        assert [m["value"] for m in margins] == ["reward/best_so_far", CURVE]
        assert all(m["value"] == m["lower"] == m["upper"] for m in margins)
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


def test_best_so_far_charts_are_margin_charts_which_tensorboard_never_smooths():
    # TensorBoard 2.21's custom-scalars page smooths multiline charts with its slider (0.6 by
    # default) and passes no smoothing to margin charts: a smoothed running maximum would dip
    # below the true best.
    charts = [chart for category in LAYOUT.values() for chart in category.values()]
    kinds = {tag: kind for kind, tags in charts for tag in tags}
    best = {tag: kind for tag, kind in kinds.items() if tag.endswith("best_so_far")}
    assert best == {"reward/best_so_far": "Margin", CURVE: "Margin"}
    for kind, tags in charts:
        if kind == "Margin":
            assert len(tags) == 3 and len(set(tags)) == 1  # the margins are the curve itself


def load_screenshot():
    spec = importlib.util.spec_from_file_location("tensorboard_screenshot", SCREENSHOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--browser", "no-such-browser"], "no browser: no-such-browser is not on PATH"),
        (["--size", "wide"], "--size='wide' is invalid"),
    ],
)
def test_the_screenshot_script_refuses_with_one_line_before_any_sweep(
    tmp_path, capsys, args, expected
):
    with pytest.raises(SystemExit) as exit_:
        load_screenshot().main([*args, "--out", str(tmp_path / "shot.png")])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {expected}") and captured.err.count("\n") == 1
    assert "running the sweep" not in captured.out
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def controller_sweep(tmp_path_factory):
    """The screenshot script's own three-controller sweep, tiny."""
    sweep = tmp_path_factory.mktemp("screenshot") / "multirun" / "sweep"
    load_screenshot().run_sweep(sweep, children=8)
    return sweep


FAKE_BROWSER = """#!{python}
# Stands in for chromium: checks that the page answers and saves a small picture.
import json, sys, urllib.request
from PIL import Image
args = sys.argv[1:]
urllib.request.urlopen(args[-1].split("#")[0], timeout=5).read()
out = next(a.split("=", 1)[1] for a in args if a.startswith("--screenshot="))
Image.new("RGB", (16, 8), "white").save(out)
open({log!r}, "w").write(json.dumps(args))
"""


@pytest.mark.slow
def test_the_screenshot_script_serves_the_sweep_takes_the_picture_and_stops(
    controller_sweep, tmp_path, capsys
):
    log, browser, out = tmp_path / "args.json", tmp_path / "fake-chromium", tmp_path / "shot.png"
    browser.write_text(FAKE_BROWSER.format(python=sys.executable, log=str(log)))
    browser.chmod(0o755)
    load_screenshot().main(
        ["--sweep", str(controller_sweep), "--out", str(out), "--browser", str(browser)]
    )
    said = capsys.readouterr().out
    runs = "0-controller=lstm, 1-controller=random, 2-controller=evolution"
    assert said.startswith(f"wrote {out}") and said.rstrip().endswith(f"runs {runs}")
    with Image.open(out) as image:
        assert image.size == (16, 8)
    args = json.loads(log.read_text())
    assert {"--headless=new", "--no-sandbox", "--window-size=1600,880"} <= set(args)
    url = urllib.parse.urlparse(args[-1])
    assert (url.hostname, url.fragment) == ("127.0.0.1", "custom_scalars")
    with pytest.raises(OSError):  # the server is gone
        urllib.request.urlopen(args[-1], timeout=2)


@pytest.mark.slow
def test_the_screenshot_in_a_real_headless_chromium(controller_sweep, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): no real screenshot")
    out = tmp_path / "shot.png"
    load_screenshot().main(
        ["--sweep", str(controller_sweep), "--out", str(out), "--size", "900,600"]
    )
    with Image.open(out) as image:
        assert image.size == (900, 600)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # a drawn page, not a blank one
