"""descentlab against a plain PyTorch loop doing the same work, side by side in one run.

    python scripts/bench.py            # medians of 3 runs each
    python scripts/bench.py --repeats 1

a. marginal cost per training step of the seed example with its default logging, from the
   difference of a long and a short run (start-up cancels), against a plain loop that does the
   same math and writes the same per-step scalars and validation to TensorBoard;
b. samples per second of a ~1 M-parameter MLP on batches of 1024, with the gradient monitor
   on and off, each against a plain loop that writes the same (per-step scalars, validation,
   and the monitor's norms, update ratios and histograms where it is on), and against a bare
   loop that writes nothing; descentlab's long runs also timed inside, from step 100 to the
   end, by when they wrote those steps' scalars (start-up left out: up to 20 s on an H100 machine);
   on a CPU, also the share of training spent in the monitor's hooks (timed inside its runs: its
   own cost, which whole runs measure only to within their noise); and the monitor on against
   off within runs that turn it on and off every TURN steps (its hooks skipped in the turns
   off), each step timed, and the turns on also without their hooks' time: a change in the
   machine's speed, which moves whole runs by more than the monitor costs, falls on both; on
   the digits, the same in turns on the nonlinear data's MLP too, whose batches are all full
   (every other digits batch is an epoch's last, of 233 samples, where the monitor's per-step
   work weighs more), without validation (a fifth of that run, which would dilute the ratio);
   and descentlab with the monitor off against the plain loop, both in one process by turns of
   TURN steps, each step timed, so that the machine's drift (which moves a loop's speed by
   several per cent from one minute to the next) falls on both alike;
   `--device cuda` trains them on the GPU, and
   `--mlp-data nonlinear --batch-size 65536` takes the MLP to batches larger than the digits
   hold (1 257 training images);
c. a 64-job lr × init sweep of 200 steps each, sequential and with joblib on all cores,
   against the plain loop running the same 64 configurations (and importing torch first);
d. start-up: `descentlab --cfg job`, and the time from launch to the first training step.

The plain loops run in this process, with glibc's malloc set as in descentlab's runs
(`descentlab.memory`), so that the comparison is of the work each does, not of the allocator;
the one that takes turns with descentlab runs in descentlab's process, with its malloc.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import NamedTuple

import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch.utils.tensorboard import SummaryWriter
from torchmetrics.functional import mean_squared_error, r2_score
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from descentlab.data.batches import Batches
from descentlab.data.digits import Digits
from descentlab.data.linear import LinearData
from descentlab.data.nonlinear import Nonlinear
from descentlab.memory import keep_freed_memory

SHORT, LONG = 200, 2200  # steps of the seed example in a.
# steps of the MLP in b.: a GPU step is shorter, so its long run is longer, for a difference
# well above the noise in start-up
MLP_STEPS = {"cpu": (100, 700), "cuda": (100, 2100)}
# steps of each run of b. that turns the monitor on and off every TURN steps: FIRST_TIMED, then
# whole periods of 200 steps (see TURN)
IN_TURNS_STEPS = {"cpu": 900, "cuda": 2100}
LRS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 1.0]
INITS = [-4, -2, 0, 1, 2, 4, 6, 8]


def app(*args: str, cwd: Path) -> float:
    """Wall time of one `python -m descentlab` command (Hydra's flags, such as -m, first), with
    the explain table off where it runs."""
    return app_output(*args, cwd=cwd)[0]


def app_output(*args: str, cwd: Path, script: str | None = None) -> tuple[float, str]:
    """`app`'s wall time and the command's stdout; with `script`, `python -c script` runs in
    place of `python -m descentlab`."""
    quiet = [] if "--cfg" in args else ["explain=0"]
    command = ["-m", "descentlab"] if script is None else ["-c", script]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *command, *args, *quiet],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"bench: descentlab {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


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


# b.'s MLP (widths 1024, 1024; ReLU; SGD) on either data set: the overrides of descentlab's run;
# for the plain loop, the same data, its in and out sizes, the task's loss and its metrics.
class MlpData(NamedTuple):
    overrides: list[str]
    make: Callable[[], Digits | Nonlinear]  # the data module (its tensors; batches come below)
    sizes: tuple[int, int]  # in, out
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metrics: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]  # val/<name>


NONLINEAR_N = 262_144
MLP_DATA = {
    "digits": MlpData(
        ["experiment=digits_mlp"],
        lambda: Digits(64, 10, 0.15, 0.15, None, seed=0),
        (64, 10),
        torch.nn.functional.cross_entropy,
        lambda logits, y: {  # conf/metrics/classification.yaml
            "acc": multiclass_accuracy(logits, y, num_classes=10),
            "f1": multiclass_f1_score(logits, y, num_classes=10, average="macro"),
        },
    ),
    "nonlinear": MlpData(
        ["experiment=nonlinear_mlp", "model.activation=relu", f"data.n={NONLINEAR_N}"],
        lambda: Nonlinear(1, 1, NONLINEAR_N, 0.1, 0.25, None, seed=0),
        (1, 1),
        torch.nn.functional.mse_loss,
        lambda y_hat, y: {"mse": mean_squared_error(y_hat, y), "r2": r2_score(y_hat, y)},
    ),
}
VAL_EVERY = 100  # b.'s trainer.val_check_interval
FIRST_TIMED = 100  # b.'s steps timed inside a run: those after the first FIRST_TIMED
HIST_EVERY = 50  # the gradient monitor's default hist_every


@cache
def mlp_data(data: str) -> Digits | Nonlinear:
    """The data set, built once per process however many runs and counts read it."""
    return MLP_DATA[data].make()


def mlp_batches(data: str, batch_size: int, steps: int) -> Batches:
    """The batches that descentlab's MLP run sees in `steps` steps."""
    d = mlp_data(data)
    return Batches(d.x_train, d.y_train, batch_size, steps, seed=0)


def samples(data: str, batch_size: int, steps: int) -> int:
    return sum(len(x) for x, _ in mlp_batches(data, batch_size, steps))


def written_at(run_dir: Path, steps: tuple[int, ...]) -> list[float]:
    """When a run wrote its `train/loss` of each of `steps` (wall times, s). The per-step
    scalars are written every 50 steps as that many steps end: the write of step k, where k + 1
    is a multiple of 50, is the end of step k."""
    times: dict[int, float] = {}
    for events in sorted(run_dir.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(events)).Load():
            if any(value.tag == "train/loss" for value in event.summary.value):
                times[event.step] = event.wall_time
    return [times[k] for k in steps]


def samples_per_s_inside(run_dir: Path, data: str, batch_size: int, steps: int) -> float:
    """Samples per second of a run from the end of its step FIRST_TIMED to the end of its last
    (`steps`, a multiple of 50), timed from when it wrote them: its start-up and its end drop
    out, where the difference of two whole runs leaves them to the runs' noise."""
    first, last = written_at(run_dir, (FIRST_TIMED - 1, steps - 1))
    extra_samples = samples(data, batch_size, steps) - samples(data, batch_size, FIRST_TIMED)
    return extra_samples / (last - first)


def plain_mlp_model(data: str) -> torch.nn.Module:
    """in → 1024 → 1024 → out with ReLU, as descentlab's MLP with `model.widths=[1024,1024]`,
    and with its first weights when torch is seeded with 0 first, as descentlab's run (seed=0)."""
    n_in, n_out = MLP_DATA[data].sizes
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, n_out),
    )


def seconds_of(run: Iterator[None]) -> float:
    """A run of `plain_mlp_steps` run through, timed from its first step to its end."""
    next(run)  # set up
    start = time.perf_counter()
    for _ in run:
        pass
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def plain_mlp_steps(
    steps: int,
    data: str = "digits",
    batch_size: int = 1024,
    device: str = "cpu",
    logdir: Path | None = None,
    monitor: bool = False,
) -> Iterator[None]:
    """The MLP with SGD on the same batches, drawn and held on `device` (descentlab holds its
    data sets there) before the first yield; then one yield after each step, and the end (the
    values left on the device, written) after the last. Without `logdir`, a bare loop.
    With it, the loop also writes there what descentlab's run writes (but for what only the
    run's end writes, which a long and a short run share): train/loss and lr every step,
    val/loss and the data's metrics every VAL_EVERY steps, and with `monitor` the gradient
    monitor's norms and update ratios every step and its histograms every HIST_EVERY steps.
    Per-step values stay on the device until the end, as descentlab's do until a flush, so the
    loop does not wait on them."""
    case = MLP_DATA[data]
    torch.manual_seed(0)  # as descentlab's run (seed=0) before it builds the model
    model = plain_mlp_model(data).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(x.to(device), y.to(device)) for x, y in mlp_batches(data, batch_size, steps)]
    d = mlp_data(data)
    x_val, y_val = d.x_val.to(device), d.y_val.to(device)
    # descentlab's MLP holds its Sequential as `layers`: the tags name the parameters so
    names = [f"layers.{name}" for name, _ in model.named_parameters()]
    params = list(model.parameters())
    writer = None if logdir is None else SummaryWriter(logdir)
    rows = []
    yield
    for step, (x, y) in enumerate(batches):
        optimizer.zero_grad()
        loss = case.loss(model(x), y)
        loss.backward()
        if writer is None:
            optimizer.step()
            yield
            continue
        writer.add_scalar("lr", optimizer.param_groups[0]["lr"], step)
        if monitor:
            grad_norm = torch.stack([p.grad.norm() for p in params])  # ‖dL/dθ‖ per parameter
            theta = [p.detach().clone() for p in params]  # θ[k]
            if step % HIST_EVERY == 0:
                for name, p in zip(names, params, strict=True):
                    writer.add_histogram(f"hist/param/{name}", p, step)
                    writer.add_histogram(f"hist/grad/{name}", p.grad, step)
        optimizer.step()
        row = [loss.detach().reshape(1)]
        if monitor:  # ‖θ[k+1] − θ[k]‖ / ‖θ[k]‖
            ratio = [(p.detach() - t).norm() / t.norm() for p, t in zip(params, theta, strict=True)]
            row += [grad_norm, grad_norm.norm().reshape(1), torch.stack(ratio)]
        rows.append(torch.cat(row))
        if (step + 1) % VAL_EVERY == 0:
            with torch.no_grad():
                y_hat = model(x_val)
                val = {"loss": case.loss(y_hat, y_val), **case.metrics(y_hat, y_val)}
            for name, value in val.items():
                writer.add_scalar(f"val/{name}", value.item(), step + 1)
        yield
    if writer is not None:
        tags = ["train/loss"]
        if monitor:
            tags += [f"grad_norm/{n}" for n in names] + ["grad_norm/total"]
            tags += [f"update_ratio/{n}" for n in names]
        for step, row in enumerate(torch.stack(rows).tolist()):
            for tag, value in zip(tags, row, strict=True):
                writer.add_scalar(tag, value, step)
        writer.close()


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


def mlp_overrides(data: str, batch_size: int, device: str) -> list[str]:
    """descentlab's MLP run in b., as `plain_mlp_steps` trains it."""
    return [
        *MLP_DATA[data].overrides,
        "model.widths=[1024,1024]",
        f"data.batch_size={batch_size}",
        "optimizer=sgd",
        "optimizer.lr=0.1",
        "scheduler=none",
        f"trainer.val_check_interval={VAL_EVERY}",
        # the end-of-run loss surfaces (~20 s for this model on 2 cores) are in the short and the
        # long run alike and cancel in their difference; left in, their run-to-run noise does not
        "callbacks.surface=null",
        f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}",
    ]


def mlp_throughput(
    tmp: Path, r: int, data: str = "digits", batch_size: int = 1024, device: str = "cpu"
) -> list[Row]:
    """b. Samples per second of the MLP, from the difference of a long and a short run (long
    enough that run-to-run noise of a few per cent does not swamp the difference), each
    descentlab variant against the plain loop writing the same, and against a bare loop. The
    runs take turns, so that a change in the machine's load over the minutes this takes falls
    on all of them alike."""
    mlp = mlp_overrides(data, batch_size, device)
    ours = {"on": [], "off": ["callbacks.gradients=null"]}  # the monitor, on and off
    plain = {"plain on": (True, True), "plain off": (True, False), "bare": (False, False)}

    hooks: dict[int, list[tuple[float, float]]] = {}  # steps: (s in them, s of training) a run
    inside: dict[str, list[float]] = {variant: [] for variant in ours}  # samples/s, long runs

    def run(variant: str, steps: int) -> float:
        if variant in ours:
            args = [*mlp, *ours[variant], f"trainer.max_steps={steps}"]
            script = MONITOR_TIMED if variant == "on" else None
            run_dir = fresh(tmp)
            seconds, out = app_output(*args, f"hydra.run.dir={run_dir}", cwd=tmp, script=script)
            if script:
                hooks.setdefault(steps, []).append(monitor_hooks(out))
            if steps == long:
                inside[variant].append(samples_per_s_inside(run_dir, data, batch_size, steps))
            return seconds
        logs, monitor = plain[variant]
        logdir = fresh(tmp) if logs else None
        return seconds_of(plain_mlp_steps(steps, data, batch_size, device, logdir, monitor))

    short, long = MLP_STEPS[device]
    seconds: dict[tuple[str, int], list[float]] = {}
    for _ in range(r):
        for steps in (short, long):
            for variant in [*ours, *plain]:
                seconds.setdefault((variant, steps), []).append(run(variant, steps))
            last = {v: round(t[-1], 2) for (v, n), t in seconds.items() if n == steps}
            print(f"b. {steps} steps, s: {last}", file=sys.stderr)  # progress
    extra_samples = samples(data, batch_size, long) - samples(data, batch_size, short)

    def samples_per_s(variant: str) -> float:
        t_long, t_short = (statistics.median(seconds[variant, n]) for n in (long, short))
        return extra_samples / (t_long - t_short)

    params = sum(p.numel() for p in plain_mlp_model(data).parameters()) / 1e6
    what = f"b. MLP {params:.1f} M params, {data}, batch {batch_size}, {device}, samples/s"
    on, off = samples_per_s("on"), samples_per_s("off")
    on_inside, off_inside = (statistics.median(inside[variant]) for variant in ("on", "off"))
    timed_inside = f"descentlab timed inside its runs from step {FIRST_TIMED}"
    turns = [plain_in_turns(tmp, data, batch_size, device) for _ in range(r)]
    turns_ours, turns_plain = (statistics.median(run) for run in zip(*turns, strict=True))
    in_one_process = f"in turns of {TURN} steps with the plain loop in one process"
    rows = [
        (f"{what}, monitor on", on, samples_per_s("plain on")),
        (f"{what}, monitor off", off, samples_per_s("plain off")),
        (f"{what}, monitor off, against a bare loop", off, samples_per_s("bare")),
        (f"{what}, monitor on, against descentlab with it off", on, off),
        (f"{what}, monitor on, {timed_inside}", on_inside, samples_per_s("plain on")),
        (f"{what}, monitor off, {timed_inside}", off_inside, samples_per_s("plain off")),
        (f"{what}, monitor off, {in_one_process}", turns_ours, turns_plain),
        (f"{what}, monitor on against off, {timed_inside}", on_inside, off_inside),
    ]
    if device == "cpu":  # on a GPU the hooks' time is only the host's, not the kernels'
        # each round's long run less its short run: the first steps' one-off costs cancel
        share = statistics.median(
            100 * (spent_long - spent_short) / (span_long - span_short)
            for (spent_short, span_short), (spent_long, span_long) in zip(
                hooks[short], hooks[long], strict=True
            )
        )
        rows.append(("b. the same, monitor on: time in its hooks, % of training", share, math.nan))

    def medians_in_turns(of: str, extra: list[str] | None = None) -> list[float]:
        """Medians of `r` runs in turns on the data `of`: on, on without hooks, off."""
        turns = [monitor_in_turns(tmp, of, batch_size, device, extra=extra) for _ in range(r)]
        return [statistics.median(run) for run in zip(*turns, strict=True)]

    on, on_without_hooks, off = medians_in_turns(data)
    rows.append((f"{what}, monitor on against off, in turns of {TURN} steps in one run", on, off))
    rows.append((f"{what}, the same, its hooks' time taken out", on_without_hooks, off))
    if data == "digits":
        # every other step there is an epoch's last batch, of 233 samples; the monitor's work is
        # per step (passes over the weights), so its share is larger on those short steps. No
        # validation: on 65 536 samples it takes a fifth of the run, which would dilute the ratio
        on, _, off = medians_in_turns("nonlinear", extra=["+trainer.limit_val_batches=0"])
        full = what.replace("digits", "nonlinear") + ", every batch full, no validation"
        rows.append((f"{full}, monitor on against off, in turns of {TURN} steps", on, off))
    return rows


def monitor_in_turns(
    tmp: Path,
    data: str,
    batch_size: int,
    device: str,
    steps: int | None = None,
    extra: list[str] | None = None,
) -> tuple[float, float, float]:
    """b. The monitor's cost with the machine's drift taken out: one run that turns the monitor
    on and off every TURN steps (MONITOR_IN_TURNS), each step timed; `extra`: overrides of
    its own."""
    steps = steps or IN_TURNS_STEPS[device]
    args = [*mlp_overrides(data, batch_size, device), f"trainer.max_steps={steps}", *(extra or [])]
    _, out = app_output(*args, f"hydra.run.dir={fresh(tmp)}", cwd=tmp, script=MONITOR_IN_TURNS)
    return in_turns(out, [len(x) for x, _ in mlp_batches(data, batch_size, steps)])


def in_turns(out: str, n: list[int]) -> tuple[float, float, float]:
    """From MONITOR_IN_TURNS's stdout and the samples of each step (`n`), from step FIRST_TIMED
    on: samples/s of the steps with the monitor on, of those again without their hooks' time,
    and of the steps with it off."""
    seconds, hooks, samples_of = {True: 0.0, False: 0.0}, 0.0, {True: 0, False: 0}
    for line in out.splitlines():
        if line.startswith("turn "):
            _, k, on, step_s, hooks_s = line.split()
            if int(k) >= FIRST_TIMED:
                seconds[on == "on"] += float(step_s)
                samples_of[on == "on"] += n[int(k)]
                hooks += float(hooks_s)
    return (
        samples_of[True] / seconds[True],
        samples_of[True] / (seconds[True] - hooks),
        samples_of[False] / seconds[False],
    )


def sweep(tmp: Path, r: int) -> list[Row]:
    """c. The 64-job lr × init grid, 200 steps each at a constant lr. The three take turns
    (sequential, joblib, plain loop), r rounds, so that a change in the machine's load falls on
    all of them."""
    grid = [
        f"optimizer.lr={','.join(map(str, LRS))}",
        f"init.value={','.join(map(str, INITS))}",
        "trainer.max_steps=200",
        "scheduler=none",
    ]

    def ours(*launcher: str) -> float:
        return app("-m", *launcher, *grid, f"hydra.sweep.dir={fresh(tmp)}", cwd=tmp)

    def plain() -> float:
        start = time.perf_counter()
        for lr in LRS:
            for w0 in INITS:
                plain_seed_example(200, fresh(tmp), lr=lr, w0=w0, plateau=False)
        # the plain loop as a program of its own: its 64 configurations and its start-up
        # (importing torch), as descentlab's time runs from launch to exit
        return time.perf_counter() - start + to_first_step(PLAIN_FIRST_STEP, cwd=tmp)

    seconds: dict[str, list[float]] = {"sequential": [], "joblib": [], "plain": []}
    for _ in range(r):
        seconds["sequential"].append(ours())
        seconds["joblib"].append(ours("hydra/launcher=joblib"))
        seconds["plain"].append(plain())
        print(f"c. s: { {k: round(v[-1], 2) for k, v in seconds.items()} }", file=sys.stderr)
    sequential, parallel, plain_s = (statistics.median(v) for v in seconds.values())
    return [
        ("c. 64-job sweep, sequential, s", sequential, plain_s),
        (f"c. 64-job sweep, joblib on {os.cpu_count()} cores, s", parallel, plain_s),
    ]


# `descentlab` with its first training step replaced by printing the time and exiting.
FIRST_STEP = """
import os, sys, time
from descentlab.cli import main
from descentlab.imports import import_lasting

# imported as the command's check imports torch and Lightning (a plain import here would run
# the full collections that import_lasting holds off, 0.7 s)
DescentModule = import_lasting("descentlab.module").DescentModule

def first_step(self, batch, batch_idx):
    print(time.time(), flush=True)
    os._exit(0)

DescentModule.training_step = first_step
sys.argv[0] = "descentlab"
main()
"""


# `descentlab` with the gradient monitor's per-step hooks timed: its last line gives the seconds
# spent in them and the seconds from the first hook's start to the last one's end.
MONITOR_TIMED = """
import atexit, sys, time
from descentlab.cli import main
from descentlab.imports import import_lasting

GradientMonitor = import_lasting("descentlab.callbacks.gradients").GradientMonitor  # as FIRST_STEP

spent, first, last = 0.0, None, None

def timed(hook):
    def run(*args):
        global spent, first, last
        start = time.perf_counter()
        hook(*args)
        last = time.perf_counter()
        first = first or start
        spent += last - start
    return run

for name in ("on_before_optimizer_step", "on_train_batch_end"):
    setattr(GradientMonitor, name, timed(getattr(GradientMonitor, name)))
atexit.register(lambda: first and print("monitor", spent, last - first))
sys.argv[0] = "descentlab"
main()
"""


# Steps of each turn of MONITOR_IN_TURNS. The runs of b. validate every 100 steps, and the
# monitor draws its histograms and writes its norms every 50: with turns of 20 steps (a period of
# 40), each of those falls in a turn on as often as in a turn off, over every 200 steps, so the
# turns on draw histograms once in 50 of their steps, as a run with the monitor does.
TURN = 20

# `descentlab` with the gradient monitor's per-step hooks run in turns of TURN steps, on then
# off (skipped), and every step timed: a line "turn K on|off S H" for step K gives the seconds
# from the end of step K − 1's batch to the end of its own (S; on a GPU, each step's kernels
# waited for) and the seconds of S in the monitor's hooks (H).
MONITOR_IN_TURNS = f"""
import sys, time
import torch
from descentlab.cli import main
from descentlab.imports import import_lasting

GradientMonitor = import_lasting("descentlab.callbacks.gradients").GradientMonitor  # as FIRST_STEP
before_step = GradientMonitor.on_before_optimizer_step
batch_end = GradientMonitor.on_train_batch_end
on, hooks, last = True, 0.0, None

def on_before_optimizer_step(self, trainer, *args):
    global on, hooks
    on = trainer.global_step // {TURN} % 2 == 0
    if on:
        start = time.perf_counter()
        before_step(self, trainer, *args)
        hooks = time.perf_counter() - start

def on_train_batch_end(self, trainer, pl_module, *args):
    global hooks, last
    if on:
        start = time.perf_counter()
        batch_end(self, trainer, pl_module, *args)
        hooks += time.perf_counter() - start
    if pl_module.device.type == "cuda":
        torch.cuda.synchronize()
    now = time.perf_counter()
    if last is not None:  # the step just ended: global_step has counted it
        print("turn", trainer.global_step - 1, "on" if on else "off", now - last, hooks)
    last, hooks = now, 0.0

GradientMonitor.on_before_optimizer_step = on_before_optimizer_step
GradientMonitor.on_train_batch_end = on_train_batch_end
sys.argv[0] = "descentlab"
main()
"""


def plain_in_turns_script(steps: int, data: str, batch_size: int, device: str, logdir: Path) -> str:
    """`descentlab` and the plain loop in turns of TURN steps in one process: after each TURN
    steps of descentlab's run, the plain loop (`plain_mlp_steps` with these arguments, set up
    before the run) takes the same TURN steps. Lines "ours K S" and "plain K S" give the seconds
    of step K: descentlab's from the end of step K − 1's batch to the end of its own, as
    MONITOR_IN_TURNS's (the plain loop's turn in between left out), the plain loop's from its
    step's start to its end (on a GPU, each step's kernels waited for)."""
    return f"""
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bench import plain_mlp_steps
from descentlab.cli import main
from descentlab.imports import import_lasting

DescentModule = import_lasting("descentlab.module").DescentModule  # as FIRST_STEP
plain = plain_mlp_steps({steps}, {data!r}, {batch_size}, {device!r}, Path({str(logdir)!r}))
next(plain)  # set up
last = None

def synchronize():
    if {device!r} == "cuda":
        torch.cuda.synchronize()

def on_train_batch_end(self, outputs, batch, batch_idx):  # after every callback's
    global last
    k = self.trainer.global_step - 1  # the step just ended
    synchronize()
    now = time.perf_counter()
    if last is not None:
        print("ours", k, now - last)
    if (k + 1) % {TURN} == 0:
        for j in range(k + 1 - {TURN}, k + 1):
            start = time.perf_counter()
            next(plain)
            synchronize()
            print("plain", j, time.perf_counter() - start)
        now = time.perf_counter()
    last = now

DescentModule.on_train_batch_end = on_train_batch_end
sys.argv[0] = "descentlab"
main()
"""


def plain_in_turns(
    tmp: Path, data: str, batch_size: int, device: str, steps: int | None = None
) -> tuple[float, float]:
    """b. descentlab (the monitor off) against the plain loop writing the same, with the
    machine's drift taken out: both in one process, by turns of TURN steps
    (`plain_in_turns_script`): samples/s of each."""
    steps = steps or IN_TURNS_STEPS[device]
    args = [
        *mlp_overrides(data, batch_size, device),
        "callbacks.gradients=null",
        f"trainer.max_steps={steps}",
        f"hydra.run.dir={fresh(tmp)}",
    ]
    script = plain_in_turns_script(steps, data, batch_size, device, fresh(tmp))
    _, out = app_output(*args, cwd=tmp, script=script)
    return with_plain_in_turns(out, [len(x) for x, _ in mlp_batches(data, batch_size, steps)])


def with_plain_in_turns(out: str, n: list[int]) -> tuple[float, float]:
    """From `plain_in_turns_script`'s stdout and the samples of each step (`n`), from step
    FIRST_TIMED on: samples/s of descentlab's steps and of the plain loop's. A validation
    (every VAL_EVERY steps) counts in the step after it in descentlab's times, in the step before
    it in the plain loop's: from FIRST_TIMED to a last step of k·VAL_EVERY − 1, as many in each."""
    seconds, samples_of = {"ours": 0.0, "plain": 0.0}, {"ours": 0, "plain": 0}
    for line in out.splitlines():
        if line.startswith(("ours ", "plain ")):
            who, k, step_s = line.split()
            if int(k) >= FIRST_TIMED:
                seconds[who] += float(step_s)
                samples_of[who] += n[int(k)]
    return samples_of["ours"] / seconds["ours"], samples_of["plain"] / seconds["plain"]


def monitor_hooks(out: str) -> tuple[float, float]:
    """From MONITOR_TIMED's stdout: seconds in the monitor's hooks, seconds of training."""
    last = next(line for line in reversed(out.splitlines()) if line.startswith("monitor "))
    _, spent, span = last.split()
    return float(spent), float(span)


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


def lightning_version() -> str:
    from importlib.metadata import version

    return version("lightning")


def figure(x: float) -> str:
    """Four significant digits, as the README's table gives them: 17 800 rather than 1.78e+04."""
    if abs(x) < 1000:
        return f"{x:.4g}"
    digits = 3 - math.floor(math.log10(abs(x)))  # a negative number of decimals: rounds left
    return f"{round(x, digits):,.0f}".replace(",", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", default="abcd", help="which measurements, e.g. --only ac")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where b trains")
    parser.add_argument("--mlp-data", choices=list(MLP_DATA), default="digits", help="b's data")
    parser.add_argument("--batch-size", type=int, default=1024, help="b's batch size")
    args = parser.parse_args()
    keep_freed_memory()  # the plain loops (run here) with glibc's malloc set as descentlab's runs
    unknown = set(args.only) - set(PARTS)
    if unknown:
        parser.error(f"--only: no measurement {', '.join(sorted(unknown))}; choose from abcd")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible here")
    parts = {
        **PARTS,
        "b": partial(
            mlp_throughput, data=args.mlp_data, batch_size=args.batch_size, device=args.device
        ),
    }
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for part in sorted(set(args.only)):
            rows += parts[part](Path(tmp), args.repeats)

    machine = (
        f"torch {torch.__version__}, Lightning {lightning_version()}, {os.cpu_count()} CPU cores"
    )
    if args.device == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    # where SciPy is installed, importing torchmetrics imports scipy.signal: every descentlab
    # process (each joblib worker too) starts 0.6–0.9 s later; the plain loops import torch only
    if "scipy.signal" in sys.modules:
        machine += ", SciPy installed (torchmetrics imports scipy.signal at every start)"
    print(f"{machine}, medians of {args.repeats}")
    width = max(len(what) for what, _, _ in rows)
    print(f"| {'measurement':<{width}} | {'descentlab':>11} | {'plain loop':>11} | {'ratio':>6} |")
    print(f"|{'-' * (width + 2)}|{'-' * 13}|{'-' * 13}|{'-' * 8}|")
    for what, ours, theirs in rows:
        plain_cell = "" if math.isnan(theirs) else figure(theirs)
        ratio_cell = "" if math.isnan(theirs) else f"{ours / theirs:.2f}"
        print(f"| {what:<{width}} | {figure(ours):>11} | {plain_cell:>11} | {ratio_cell:>6} |")


if __name__ == "__main__":
    main()
