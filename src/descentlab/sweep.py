"""What a sweep found: each job's `results.json` gathered into `summary.csv`, `summary.md` and
`sweep.png` in the sweep dir, and into TensorBoard (run `summary` in the sweep dir).

`SweepSummary` is a Hydra callback that does it when a sweep ends and then fails the command
if any job failed; `python scripts/summarize.py <sweep dir>` does it again from the files alone.
"""

import csv
import json
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from descentlab.console import typed

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# the launcher that runs a sweep's jobs one after the other in this process
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"

COLUMNS = [
    "job",
    "status",
    "lr",
    "final_loss",
    "final_val_loss",
    "best_val_loss",
    "final_w",
    "steps",
    "wall_time_s",
]


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job's results, in job order; at any depth, as a subdir may hold a / (an override
    of a path, in ${hydra.job.override_dirname})."""
    results = [json.loads(p.read_text()) for p in sweep_dir.rglob("results.json")]
    return sorted(results, key=lambda r: (r.get("job") is None, r.get("job") or 0))


def swept(results: list[dict[str, Any]]) -> list[str]:
    """The keys that were set per job, in first-seen order."""
    keys: dict[str, None] = {}
    for result in results:
        keys.update(dict.fromkeys(result.get("params", {})))
    return list(keys)


def write_tables(sweep_dir: Path, results: list[dict[str, Any]]) -> None:
    keys = swept(results)
    rows = [
        [
            *(r.get("params", {}).get(k) for k in keys),
            *(r.get(c) for c in COLUMNS),
            r.get("error", ""),
        ]
        for r in results
    ]
    header = [*keys, *COLUMNS, "error"]
    with (sweep_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)

    def cell(v: Any) -> str:  # a | inside a value (an error's text) would end its cell
        return (
            "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v).replace("|", r"\|")
        )

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")


def draw(results: list[dict[str, Any]]) -> "Figure":
    """Final loss against lr, one line per other setting (e.g. init.value); diverged and
    failed jobs marked; the theory's 1/h and 2/h where the jobs know h."""
    import matplotlib.pyplot as plt

    from descentlab import figures  # noqa: F401  (selects the Agg backend)

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    lr_key = "optimizer.lr"  # the x axis
    groups: dict[str, list[dict[str, Any]]] = {}
    varying = [
        k for k in swept(results) if len({str(r.get("params", {}).get(k)) for r in results}) > 1
    ]
    for r in results:
        params = r.get("params", {})
        label = ", ".join(f"{k}={short(params.get(k))}" for k in varying if k != lr_key)
        groups.setdefault(label or "all jobs", []).append(r)
    # diverged and failed jobs are marked above the jobs that ran to the end: their own final
    # loss (1e5 and up) would squash the others into the bottom of the plot
    done = [
        r["final_loss"] for r in results if r["status"] == "ok" and _finite(r.get("final_loss"))
    ]
    top = 3 * max(done, default=1.0)
    for i, (label, group) in enumerate(groups.items()):
        group = sorted(group, key=_lr)
        ok = [r for r in group if r["status"] == "ok" and _finite(r.get("final_loss"))]
        # a marker and a dash of its own: groups that end at the same loss stay visible;
        # none of them × or ■, which mark the diverged and the failed jobs
        style = {"marker": "oD^v<>ph"[i % 8], "ls": ["-", "--", ":", "-."][i % 4], "alpha": 0.85}
        (line,) = ax.plot([_lr(r) for r in ok], [r["final_loss"] for r in ok], **style, label=label)
        for r in (r for r in group if r["status"] != "ok"):
            marker = "x" if r["status"] == "diverged" else "s"
            # each group's marks a little higher than the last one's, not on top of them
            ax.plot(_lr(r), top * (1 + 0.08 * i), marker, color=line.get_color(), ms=9)
    hs = {round(r["h"], 9) for r in results if _finite(r.get("h"))}
    if len(hs) == 1:
        h = hs.pop()
        ax.axvline(1 / h, color="0.5", ls="--", lw=1, label=f"1/h = {1 / h:.3g}")
        ax.axvline(2 / h, color="k", ls="--", lw=1, label=f"2/h = {2 / h:.3g} (critical)")
    drawn = [r for r in results if _finite(_lr(r)) and _finite(r.get("final_loss"))]
    if drawn and min(_lr(r) for r in drawn) > 0:
        ax.set_xscale("log")
    losses = [r["final_loss"] for r in drawn]
    if losses and min(losses) > 0 and max(losses) > 10 * min(losses):  # decades apart
        ax.set_yscale("log")  # (a log axis over 1e-7 of a span labels every tick alike)
    ax.set_xlabel(lr_key)
    ax.set_ylabel("final training loss")
    marks = [
        f"{mark} {status}"
        for mark, status in (("×", "diverged"), ("■", "failed"))
        if any(r["status"] == status for r in results)
    ]  # the marks this sweep has, and only those
    ax.set_title(
        "the sweep" + (f": {', '.join(marks)} (drawn at the top)" if marks else ""), fontsize=9
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the data
    fig.tight_layout()
    return fig


def short(value: Any) -> str:
    """A swept value for a legend: a float to 3 significant digits (Optuna's draws have 16)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write the tables, the figure and the TensorBoard views for the jobs in `sweep_dir`.

    No torch here: in a sweep whose jobs ran in other processes, the main process never
    imports it."""
    checksum, events, figures, EventFileWriter = summary_modules()
    checksum.install()
    results = collect(sweep_dir)
    if not results:
        return results
    write_tables(sweep_dir, results)
    png, height, width = figures.encode(draw(results))
    (sweep_dir / "sweep.png").write_bytes(png)
    # rebuilt, not added to: an earlier summary's events would show every view twice
    for old in (sweep_dir / "summary").glob("events.out.tfevents.*"):
        old.unlink()
    writer = EventFileWriter(str(sweep_dir / "summary"))
    writer.add_event(events.event(events.image("sweep/final_loss_vs_lr", png, height, width), 0))
    # one chart per tag with every job's curve on it (TensorBoard's Custom Scalars tab)
    tags = ["train/loss", "val/loss", "param/w", "lr"]
    writer.add_event(events.event(events.overlaid("jobs overlaid", tags), 0))
    # the HParams table's columns: every job's settings and metrics (each job wrote its row)
    columns: dict[str, Any] = {}  # each setting with a value that gives its type: a number
    for r in results:  # where any job has one (0.5 beside another job's null), else text
        for key, value in (r.get("hparams") or {}).items():
            if key not in columns or isinstance(value, int | float):
                columns[key] = value
    metrics = dict.fromkeys(m for r in results for m in r.get("metrics") or [])
    if columns:
        writer.add_event(events.event(events.experiment(columns, list(metrics)), 0))
    writer.close()
    return results


class SweepSummary(Callback):
    """At the end of a sweep: the summary, then a non-zero exit naming any failed jobs."""

    running: Path | None = None  # the sweep dir while its jobs run, for `stopped`

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Where the jobs run in other processes (joblib, submitit, Ray), this one only waits for
        them: it imports what the summary needs (matplotlib, 0.5 s) meanwhile, on a thread of
        its own, rather than after the last job."""
        SweepSummary.running = Path(config.hydra.sweep.dir)
        if config.hydra.launcher._target_ != BASIC_LAUNCHER:
            threading.Thread(target=summary_modules, daemon=True).start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        SweepSummary.running = None
        sweep_dir = Path(config.hydra.sweep.dir)
        results = summarize(sweep_dir)
        print(f"sweep: {jobs(len(results))}, summary in {typed(sweep_dir / 'summary.md')}")
        print(f"see it: tensorboard --logdir {typed(sweep_dir)}")
        failed = [r for r in results if r["status"] == "failed"]
        if failed:
            names = "; ".join(f"job {r['job']} ({_params(r)}): {r.get('error')}" for r in failed)
            # SystemExit, not an Exception: Hydra turns a callback's exceptions into warnings
            raise SystemExit(f"descentlab: {len(failed)} of {len(results)} jobs failed: {names}")


def summary_modules() -> tuple[Any, ...]:
    """What the summary draws and writes with, imported on first use (matplotlib: 0.5 s)."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from descentlab import checksum, events, figures

    return checksum, events, figures, EventFileWriter


def _params(result: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in result.get("params", {}).items())


def _lr(result: dict[str, Any]) -> float:
    """The job's lr: the swept value, else the one its config had."""
    value = result.get("params", {}).get("optimizer.lr", result.get("lr"))
    return value if _finite(value) else math.nan


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def stopped(sweep_dir: Path, stop: KeyboardInterrupt | SystemExit) -> NoReturn:
    """A sweep stopped before its end (Ctrl-C; Lightning turns one that comes during training
    into an exit): the summary of the jobs that finished, whose files are all kept. An exit
    before any job finished is left as it is: Hydra's after a refused sweep is one."""
    SweepSummary.running = None
    finished = len(summarize(sweep_dir))
    if isinstance(stop, SystemExit) and not finished:
        raise stop
    if finished:
        print(
            f"sweep: stopped after {jobs(finished)}, summary in {typed(sweep_dir / 'summary.md')}"
        )
    else:
        print(f"sweep: stopped before any job finished, in {typed(sweep_dir)}")
    raise SystemExit(stop.code if isinstance(stop, SystemExit) else 130)


def jobs(n: int) -> str:
    return "1 job" if n == 1 else f"{n} jobs"
