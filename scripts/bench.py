"""descentlab against a plain PyTorch loop doing the same work, side by side in one run.

    python scripts/bench.py            # medians of 3 runs each
    python scripts/bench.py --repeats 1

a. marginal cost per training step of the seed example with its default logging, from the
   difference of a long and a short run (start-up cancels), against a plain loop that does the
   same math and writes the same per-step scalars and validation to TensorBoard;
b. samples per second of a ~1 M-parameter MLP on batches of 1024, with the gradient monitor
   on and off, against a plain loop;
c. a 64-job lr × init sweep of 200 steps each, sequential and with joblib on all cores,
   against the plain loop running the same 64 configurations;
d. start-up: `descentlab --cfg job`, and a whole 1-step run.
"""

import argparse
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

SHORT, LONG = 200, 2200
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


def plain_seed_example(steps: int, logdir: Path, lr: float = 0.1, w0: float = 1.0) -> float:
    """The seed example by hand: full-batch SGD on w·x with MSE, ReduceLROnPlateau on the
    validation loss every 10 steps, train/loss, param/w, grad/w and lr written every step.
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
        rows.append(torch.stack([loss.detach(), w.detach(), w.grad.detach()]))
        lr_now = optimizer.param_groups[0]["lr"]
        optimizer.step()
        writer.add_scalar("lr", lr_now, step)
        if (step + 1) % 10 == 0:
            with torch.no_grad():
                val = ((w * x_val - y_val) ** 2).mean()
                r2 = 1 - ((w * x_val - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()
            writer.add_scalar("val/loss", val.item(), step + 1)
            writer.add_scalar("val/r2", r2.item(), step + 1)
            scheduler.step(val.item())
    for step, (loss, w_k, g_k) in enumerate(torch.stack(rows).tolist()):
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("param/w", w_k, step)
        writer.add_scalar("grad/w", g_k, step)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    r = args.repeats
    rows: list[tuple[str, float, float, str]] = []  # what, descentlab, plain, unit
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = iter(range(10**6))
        run_dir = lambda: f"hydra.run.dir={tmp / f'run{next(n)}'}"  # noqa: E731

        # a. marginal ms per step
        ours = median(lambda: app(f"trainer.max_steps={LONG}", run_dir(), cwd=tmp), r) - median(
            lambda: app(f"trainer.max_steps={SHORT}", run_dir(), cwd=tmp), r
        )

        def plain(steps: int) -> float:
            start = time.perf_counter()
            plain_seed_example(steps, tmp / f"plain{next(n)}")
            return time.perf_counter() - start

        theirs = median(lambda: plain(LONG), r) - median(lambda: plain(SHORT), r)
        rows.append(
            (
                "a. seed example, ms per step",
                1e3 * ours / (LONG - SHORT),
                1e3 * theirs / (LONG - SHORT),
                "ms",
            )
        )

        # b. MLP samples per second, monitor on and off
        mlp = [
            "experiment=digits_mlp",
            "model.widths=[1024,1024]",
            "data.batch_size=1024",
            "optimizer=sgd",
            "optimizer.lr=0.1",
            "scheduler=none",
            "trainer.val_check_interval=100",
        ]

        def samples_per_s(*extra: str) -> float:
            long = median(lambda: app(*mlp, *extra, "trainer.max_steps=400", run_dir(), cwd=tmp), r)
            short = median(
                lambda: app(*mlp, *extra, "trainer.max_steps=100", run_dir(), cwd=tmp), r
            )
            return (samples(400) - samples(100)) / (long - short)

        plain_time = median(lambda: plain_mlp(400), r) - median(lambda: plain_mlp(100), r)
        plain_rate = (samples(400) - samples(100)) / plain_time
        rows.append(
            ("b. MLP 1.1 M params, samples/s, monitor on", samples_per_s(), plain_rate, "/s")
        )
        rows.append(
            (
                "b. MLP 1.1 M params, samples/s, monitor off",
                samples_per_s("callbacks.gradients=null"),
                plain_rate,
                "/s",
            )
        )

        # c. the 64-job sweep
        grid = [
            f"optimizer.lr={','.join(map(str, LRS))}",
            f"init.value={','.join(map(str, INITS))}",
            "trainer.max_steps=200",
            "scheduler=none",
        ]
        sequential = app("-m", *grid, f"hydra.sweep.dir={tmp / 'seq'}", cwd=tmp)
        parallel = app(
            "-m", "hydra/launcher=joblib", *grid, f"hydra.sweep.dir={tmp / 'par'}", cwd=tmp
        )
        start = time.perf_counter()
        for lr in LRS:
            for w0 in INITS:
                plain_seed_example(200, tmp / f"grid{next(n)}", lr=lr, w0=w0)
        plain_grid = time.perf_counter() - start
        rows.append(("c. 64-job sweep, sequential, s", sequential, plain_grid, "s"))
        rows.append(
            (f"c. 64-job sweep, joblib on {os.cpu_count()} cores, s", parallel, plain_grid, "s")
        )

        # d. start-up
        cfg = median(lambda: app("--cfg", "job", cwd=tmp), r)
        one_step = median(
            lambda: app("trainer.max_steps=1", "trainer.val_check_interval=1", run_dir(), cwd=tmp),
            r,
        )
        rows.append(("d. descentlab --cfg job, s", cfg, float("nan"), "s"))
        rows.append(("d. a whole 1-step run, s", one_step, float("nan"), "s"))

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, medians of {r}")
    print(f"| {'measurement':<46} | {'descentlab':>11} | {'plain loop':>11} | {'ratio':>6} |")
    print(f"|{'-' * 48}|{'-' * 13}|{'-' * 13}|{'-' * 8}|")
    for what, ours, theirs, _ in rows:
        ratio = ours / theirs if theirs == theirs else float("nan")
        plain_cell = "" if theirs != theirs else f"{theirs:.4g}"
        ratio_cell = "" if ratio != ratio else f"{ratio:.2f}"
        print(f"| {what:<46} | {ours:>11.4g} | {plain_cell:>11} | {ratio_cell:>6} |")


if __name__ == "__main__":
    main()
