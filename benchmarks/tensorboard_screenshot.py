"""Screenshot TensorBoard's Custom Scalars page for a sweep, in a real headless browser.

python benchmarks/tensorboard_screenshot.py [--sweep <multirun dir>] [--out <png>]

Without --sweep it first runs a small sweep of three controllers on the NAS-Bench-201 table
(seconds: table look-ups), in a temporary directory it removes at the end. It starts TensorBoard
on the sweep (127.0.0.1, a free port), waits until every run's curves are served, takes the
picture with chromium (Debian: `apt-get install -y chromium`) and stops the server. Without a
browser it stops before the sweep with one line and exit status 2. The default --out is
docs/tensorboard_sweep.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ROOT / "scripts" / "search.py"
OUT = ROOT / "docs" / "tensorboard_sweep.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SWEEP = [
    "controller=lstm,random,evolution",
    "search_space=nb201",
    "evaluator=table",
]
CURVE = "reward_by_children/best_so_far"  # served once a run has logged an update
PAGE = "#custom_scalars"


class ScreenshotError(Exception):
    """Something the screenshot needs is missing or did not work: said in one line."""


def find_browser(name: str | None = None) -> str:
    """The browser to take the picture with: `name`, else the first chromium on PATH."""
    for candidate in [name] if name else BROWSERS:
        found = shutil.which(candidate)
        if found:
            return found
    wanted = name or " or ".join(BROWSERS)
    raise ScreenshotError(
        f"no browser: {wanted} is not on PATH (Debian: apt-get update && apt-get install -y "
        "chromium)"
    )


def sweep_command(sweep_dir: Path, children: int) -> list[str]:
    """The call that runs the three-controller sweep into `sweep_dir`."""
    return [
        sys.executable,
        str(SEARCH),
        "-m",
        *SWEEP,
        f"budget.children={children}",
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run_sweep(sweep_dir: Path, children: int) -> None:
    """Run the sweep with this checkout's code; a failure raises with its last line."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        sweep_command(sweep_dir, children),
        cwd=sweep_dir.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ScreenshotError(f"the sweep failed (exit {proc.returncode}): {last}")


def run_names(sweep_dir: Path) -> list[str]:
    """The sweep's runs as TensorBoard names them: each job directory with an event file."""
    jobs = {p.parent for p in sweep_dir.glob("*/events.out.tfevents.*")}
    return sorted(p.name for p in jobs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page_url(port: int) -> str:
    """The Custom Scalars page of the TensorBoard on `port`."""
    return f"http://127.0.0.1:{port}/{PAGE}"


def get_json(url: str) -> object:
    """The JSON that `url` answers with."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def serves_every_run(base: str, runs: Sequence[str]) -> bool:
    """Whether the server at `base` has loaded the layout and every run's curve."""
    try:
        layout = get_json(f"{base}/data/plugin/custom_scalars/layout")
        tags = get_json(f"{base}/data/plugin/scalars/tags")
    except OSError:
        return False
    assert isinstance(tags, dict) and isinstance(layout, dict)
    return bool(layout.get("category")) and all(CURVE in tags.get(run, {}) for run in runs)


@contextmanager
def tensorboard(
    logdir: Path, runs: Sequence[str], cwd: Path | None = None, timeout: float = 120
) -> Iterator[int]:
    """TensorBoard on `logdir` (from `cwd`) once it serves all `runs`: yields its port, stops."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"]
    # Its messages go to a file, not a pipe: a full pipe would stall the server.
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log, text=True
        )
        try:
            wait_until_served(server, log, port, runs, timeout)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_until_served(
    server: subprocess.Popen, log: IO[str], port: int, runs: Sequence[str], timeout: float
) -> None:
    """Poll the server until it serves every run; raise if it stops or takes too long."""
    deadline = time.monotonic() + timeout
    while not serves_every_run(f"http://127.0.0.1:{port}", runs):
        if server.poll() is not None:
            log.seek(0)
            last = (log.read().strip().splitlines() or ["(no output)"])[-1]
            raise ScreenshotError(f"TensorBoard stopped (exit {server.returncode}): {last}")
        if time.monotonic() > deadline:
            raise ScreenshotError(f"TensorBoard served not all {len(runs)} runs in {timeout:.0f} s")
        time.sleep(0.5)


def browser_command(
    browser: str, url: str, out: Path, size: tuple[int, int], profile: Path
) -> list[str]:
    """The headless chromium call that saves a `size` picture of `url` to `out`."""
    return [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",  # a fresh profile: no saved TensorBoard settings
        f"--screenshot={out}",
        f"--window-size={size[0]},{size[1]}",
        "--virtual-time-budget=20000",  # let the page load its data and draw the charts
        url,
    ]


def take_picture(browser: str, url: str, out: Path, size: tuple[int, int]) -> None:
    """Screenshot `url` into `out` (a PNG, palette colours to keep it small)."""
    with tempfile.TemporaryDirectory() as profile:
        shot = Path(profile) / "shot.png"
        command = browser_command(browser, url, shot, size, Path(profile) / "profile")
        proc = subprocess.run(command, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0 or not shot.is_file():
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ScreenshotError(
                f"{Path(browser).name} took no picture (exit {proc.returncode}): {last}"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(shot) as image:
            image.convert("RGB").quantize(colors=256).save(out, optimize=True)


def screenshot(
    sweep_dir: Path, out: Path, browser: str, size: tuple[int, int], cwd: Path = Path()
) -> list[str]:
    """Serve `sweep_dir` (from `cwd`) with TensorBoard; save its Custom Scalars page to `out`."""
    runs = run_names(cwd / sweep_dir)
    if not runs:
        raise ScreenshotError(f"{sweep_dir} holds no run with TensorBoard events")
    with tensorboard(sweep_dir, runs, cwd) as port:
        take_picture(browser, page_url(port), out, size)
    return runs


def parse_size(text: str) -> tuple[int, int]:
    """`1600,1100` as (width, height) in pixels."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ScreenshotError(f"--size={text!r} is invalid: expected width,height like 1600,1100")
    return int(parts[0]), int(parts[1])


def main(argv: Sequence[str] | None = None) -> None:
    """Run (or take) the sweep, serve it, take the picture; bad input is one line, exit 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, help="a multirun directory (default: run one)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--children", type=int, default=100, help="per run of the sweep")
    parser.add_argument("--browser", help="the browser to use (default: chromium on PATH)")
    parser.add_argument("--size", default="1600,880", help="window width,height in pixels")
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
        browser = find_browser(args.browser)
        with tempfile.TemporaryDirectory() as work:
            sweep_dir, cwd = args.sweep, Path()
            if sweep_dir is None:  # named as Hydra would, so the picture shows what users see
                sweep_dir, cwd = Path("multirun", time.strftime("%Y-%m-%d/%H-%M-%S")), Path(work)
                print(f"running the sweep: {' '.join(SWEEP)} budget.children={args.children}")
                run_sweep(cwd / sweep_dir, args.children)
            runs = screenshot(sweep_dir, args.out, browser, size, cwd)
    except ScreenshotError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB): runs {', '.join(runs)}")


if __name__ == "__main__":
    main()
