"""Screenshots of a real TensorBoard for the README, taken with headless Chromium.

    python scripts/screenshots.py docs/images

Runs the seed example (60 steps) and the overshoot preset, serves their logs with TensorBoard on
127.0.0.1, captures the Scalars, Images and Histograms dashboards, copies each run's
loss-curve PNG, and stops TensorBoard. Needs `chromium` on the PATH (Debian: apt-get install
chromium).
"""

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# 60 steps each, so that the first steps are not cut off as outliers by the Scalars dashboard,
# and a histogram every 5 steps
RUNS = {
    "seed_example": ["trainer.max_steps=60", "callbacks.gradients.hist_every=5"],
    "overshoot": ["experiment=overshoot", "callbacks.gradients.hist_every=5"],
}
VIEWS = {
    # file name: (dashboard and its settings, window size)
    "tensorboard_scalars.png": (
        "scalars&_smoothingWeight=0&_ignoreYOutliers=false&tagFilter=%5E(param%7Cgrad%2F%7Clr%7Ctrain)",
        "1400,1000",
    ),
    "tensorboard_images.png": ("images", "1400,620"),
    "tensorboard_histograms.png": ("histograms&tagFilter=param", "1400,480"),
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"screenshots: TensorBoard did not answer at {url} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where the PNG files go")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit(
            "screenshots: no chromium on the PATH; install it (Debian: apt-get install chromium)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        for name, overrides in RUNS.items():
            run = [sys.executable, "-m", "descentlab", f"hydra.run.dir={logs / name}", "explain=0"]
            subprocess.run([*run, *overrides], check=True, capture_output=True, cwd=tmp)
            shutil.copy(logs / name / "loss_curve.png", args.out / f"loss_curve_{name}.png")
        port = free_port()
        board = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logs),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/")
            for file, (view, size) in VIEWS.items():
                url = f"http://127.0.0.1:{port}/?darkMode=false#{view}"
                profile = Path(tmp) / f"profile-{file}"
                subprocess.run(
                    [
                        chromium,
                        *CHROMIUM_FLAGS,
                        f"--user-data-dir={profile}",
                        f"--window-size={size}",
                        f"--screenshot={args.out / file}",
                        url,
                    ],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                print(args.out / file)
        finally:
            board.terminate()
            board.wait(timeout=30)


if __name__ == "__main__":
    main()
