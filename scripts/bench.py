"""descentlab against a plain PyTorch loop doing the same work, side by side in one run.

    python scripts/bench.py            # medians of 3 runs each
    python scripts/bench.py --repeats 1

a. marginal cost per training step of the seed example with its default logging, from the
   difference of a long and a short run (start-up cancels), against a plain loop that does the
   same math and writes the same per-step scalars and validation to TensorBoard;
b. samples per second of a ~1 M-parameter MLP on batches of 1024, with the gradient monitor
   on and off, against a plain loop;
c. a 64-job lr × init sweep of 200 steps each, sequential and with joblib on all cores,
   against the plain loop running the same 64 configurations (and importing torch first);
d. start-up: `descentlab --cfg job`, and the time from launch to the first training step.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from descentlab.data.batches import Batches
from descentlab.data.digits import Digits
from descentlab.data.linear import LinearData

SHORT, LONG = 200, 2200  # steps of the seed example in a.
MLP_SHORT, MLP_LONG = 100, 700  # steps of the MLP in b.
LRS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 1.0]
INITS = [-4, -2, 0, 1, 2, 4, 6, 8]


def app(*args: str, cwd: Path) -> float:
    """Wall time of one `python -m descentlab` command (Hydra's flags, such as -m, first)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "descentlab", *args, "explain=0"],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def plain_seed_example(
    steps: int, logdir: Path, lr: float = 0.1, w0: float = 1.0, plateau: bool = True
) -> float:
    """The seed example by hand: full-batch SGD on w·x with MSE, ReduceLROnPlateau (unless
    `plateau` is off) on the validation loss every 10 steps, and every scalar a default run
    writes: per step train/loss, lr, param/w, grad/w, grad_norm/w, grad_norm/total and
    update_ratio/w; val/loss, val/mse and val/r2 every 10 steps; weight and gradient histograms
    every 50; final/* at the end.
    Returns the final w."""
    data = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y, x_val, y_val = data.x_train, data.y_train, data.x_val, data.y_val
    w = torch.nn.Parameter(torch.tensor(float(w0)))
    optimizer = torch.optim.SGD([w], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    writer = SummaryWriter(logdir)
    rows = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = ((w * x - y) ** 2).mean()
        loss.backward()
        w_k = w.detach().clone()
        g_norm = w.grad.norm()
        lr_now = optimizer.param_groups[0]["lr"]
        if step % 50 == 0:
            writer.add_histogram("hist/param/w", w_k.reshape(1), step)
            writer.add_histogram("hist/grad/w", w.grad.reshape(1), step)
        optimizer.step()
        ratio = (w.detach() - w_k).norm() / w_k.norm()
        rows.append(torch.stack([loss.detach(), w_k, w.grad.detach(), g_norm, g_norm, ratio]))
        writer.add_scalar("lr", lr_now, step)
        if (step + 1) % 10 == 0:
            with torch.no_grad():
                val = ((w * x_val - y_val) ** 2).mean()
                r2 = 1 - ((w * x_val - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()
            writer.add_scalar("val/loss", val.item(), step + 1)
            writer.add_scalar("val/mse", val.item(), step + 1)
            writer.add_scalar("val/r2", r2.item(), step + 1)
            if plateau:
                scheduler.step(val.item())
    tags = ["train/loss", "param/w", "grad/w", "grad_norm/w", "grad_norm/total", "update_ratio/w"]
    for step, row in enumerate(torch.stack(rows).tolist()):
        for tag, value in zip(tags, row, strict=True):
            writer.add_scalar(tag, value, step)
    with torch.no_grad():
        train_loss = ((w * x - y) ** 2).mean().item()
        val = ((w * x_val - y_val) ** 2).mean().item()
        r2 = (
            1 - ((w * x_val - y_val) ** 2).sum().item() / ((y_val - y_val.mean()) ** 2).sum().item()
        )
    final = {"train_loss": train_loss, "val_loss": val, "val_mse": val, "val_r2": r2, "w": w.item()}
    for name, value in final.items():
        writer.add_scalar(f"final/{name}", value, steps)
    writer.close()
    return w.item()


def mlp_batches(steps: int) -> Batches:
    """The digits batches (up to 1024) that descentlab's MLP run sees in `steps` steps."""
    data = Digits(64, 10, 0.15, 0.15, 1024, seed=0)
    return Batches(data.x_train, data.y_train, 1024, steps, seed=0)


def samples(steps: int) -> int:
    return sum(len(x) for x, _ in mlp_batches(steps))


def plain_mlp(steps: int) -> float:
    """A 64 → 1024 → 1024 → 10 MLP on the same digits batches with SGD; returns seconds."""
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = list(mlp_batches(steps))
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def median(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


Row = tuple[str, float, float]  # what, descentlab, plain loop (nan: no plain counterpart)


def seed_example_step(tmp: Path, r: int) -> list[Row]:
    """a. Marginal ms per step: (long run − short run) / extra steps, start-up cancels."""

    def ours(steps: int) -> float:
        return app(f"trainer.max_steps={steps}", f"hydra.run.dir={fresh(tmp)}", cwd=tmp)

    def plain(steps: int) -> float:
        start = time.perf_counter()
        plain_seed_example(steps, fresh(tmp))
        return time.perf_counter() - start

    per_step = [
        1e3 * (median(lambda f=f: f(LONG), r) - median(lambda f=f: f(SHORT), r)) / (LONG - SHORT)
        for f in (ours, plain)
    ]
    return [("a. seed example, ms per step", *per_step)]


def mlp_throughput(tmp: Path, r: int) -> list[Row]:
    """b. Samples per second of the MLP, from the difference of a long and a short run (long
    enough that run-to-run noise of a few per cent does not swamp the difference). The runs
    take turns (monitor on, monitor off, plain loop), so that a change in the machine's load
    over the minutes this takes falls on all three alike."""
    mlp = [
        "experiment=digits_mlp",
        "model.widths=[1024,1024]",
        "data.batch_size=1024",
        "optimizer=sgd",
        "optimizer.lr=0.1",
        "scheduler=none",
        "trainer.val_check_interval=100",
    ]
    variants = {"on": [], "off": ["callbacks.gradients=null"]}

    def ours(steps: int, extra: list[str]) -> float:
        args = [*mlp, *extra, f"trainer.max_steps={steps}", f"hydra.run.dir={fresh(tmp)}"]
        return app(*args, cwd=tmp)

    seconds: dict[tuple[str, int], list[float]] = {}
    for _ in range(r):
        for steps in (MLP_SHORT, MLP_LONG):
            for variant, extra in variants.items():
                seconds.setdefault((variant, steps), []).append(ours(steps, extra))
            seconds.setdefault(("plain", steps), []).append(plain_mlp(steps))
    extra_samples = samples(MLP_LONG) - samples(MLP_SHORT)

    def samples_per_s(variant: str) -> float:
        long, short = (statistics.median(seconds[variant, n]) for n in (MLP_LONG, MLP_SHORT))
        return extra_samples / (long - short)

    plain = samples_per_s("plain")
    return [
        ("b. MLP 1.1 M params, samples/s, monitor on", samples_per_s("on"), plain),
        ("b. MLP 1.1 M params, samples/s, monitor off", samples_per_s("off"), plain),
    ]


def sweep(tmp: Path, r: int) -> list[Row]:
    """c. The 64-job lr × init grid, 200 steps each at a constant lr."""
    grid = [
        f"optimizer.lr={','.join(map(str, LRS))}",
        f"init.value={','.join(map(str, INITS))}",
        "trainer.max_steps=200",
        "scheduler=none",
    ]
    sequential = app("-m", *grid, f"hydra.sweep.dir={fresh(tmp)}", cwd=tmp)
    parallel = app("-m", "hydra/launcher=joblib", *grid, f"hydra.sweep.dir={fresh(tmp)}", cwd=tmp)
    start = time.perf_counter()
    for lr in LRS:
        for w0 in INITS:
            plain_seed_example(200, fresh(tmp), lr=lr, w0=w0, plateau=False)
    # the plain loop as a program of its own: its 64 configurations and its start-up (importing
    # torch), as descentlab's time runs from launch to exit
    plain = time.perf_counter() - start + to_first_step(PLAIN_FIRST_STEP, cwd=tmp)
    return [
        ("c. 64-job sweep, sequential, s", sequential, plain),
        (f"c. 64-job sweep, joblib on {os.cpu_count()} cores, s", parallel, plain),
    ]


# `descentlab` with its first training step replaced by printing the time and exiting.
FIRST_STEP = """
import os, sys, time
from descentlab.cli import main
from descentlab.module import DescentModule

def first_step(self, batch, batch_idx):
    print(time.time(), flush=True)
    os._exit(0)

DescentModule.training_step = first_step
sys.argv[0] = "descentlab"
main()
"""


# The plain loop's start-up: its imports, up to where its first step would begin.
PLAIN_FIRST_STEP = """
import time
import torch
from torch.utils.tensorboard import SummaryWriter
print(time.time())
"""


def to_first_step(script: str, *args: str, cwd: Path) -> float:
    """Seconds from launching `script` (FIRST_STEP or PLAIN_FIRST_STEP) to its first step."""
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.split()[-1]) - start


def startup(tmp: Path, r: int) -> list[Row]:
    """d. Composing and printing the config; launching a run up to its first training step."""
    cfg = median(lambda: app("--cfg", "job", cwd=tmp), r)
    first = median(
        lambda: to_first_step(FIRST_STEP, "explain=0", f"hydra.run.dir={fresh(tmp)}", cwd=tmp), r
    )
    plain = median(lambda: to_first_step(PLAIN_FIRST_STEP, cwd=tmp), r)
    return [
        ("d. descentlab --cfg job, s", cfg, math.nan),
        ("d. launch to the first training step, s", first, plain),
    ]


def fresh(tmp: Path) -> Path:
    """A new directory name under `tmp`, for one run's output."""
    return tmp / f"out{time.perf_counter_ns()}"


PARTS = {"a": seed_example_step, "b": mlp_throughput, "c": sweep, "d": startup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", default="abcd", help="which measurements, e.g. --only ac")
    args = parser.parse_args()
    unknown = set(args.only) - set(PARTS)
    if unknown:
        parser.error(f"--only: no measurement {', '.join(sorted(unknown))}; choose from abcd")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for part in sorted(set(args.only)):
            rows += PARTS[part](Path(tmp), args.repeats)

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, medians of {args.repeats}")
    print(f"| {'measurement':<46} | {'descentlab':>11} | {'plain loop':>11} | {'ratio':>6} |")
    print(f"|{'-' * 48}|{'-' * 13}|{'-' * 13}|{'-' * 8}|")
    for what, ours, theirs in rows:
        plain_cell = "" if math.isnan(theirs) else f"{theirs:.4g}"
        ratio_cell = "" if math.isnan(theirs) else f"{ours / theirs:.2f}"
        print(f"| {what:<46} | {ours:>11.4g} | {plain_cell:>11} | {ratio_cell:>6} |")


if __name__ == "__main__":
    main()
