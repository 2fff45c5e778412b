"""The sweep summary from results.json files, without running a sweep."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.plugins.hparams import plugin_data_pb2

from descentlab.sweep import BASIC_LAUNCHER, collect, draw, summarize


def job(sweep_dir: Path, num: int, **result) -> None:
    (sweep_dir / str(num)).mkdir(parents=True)
    (sweep_dir / str(num) / "results.json").write_text(json.dumps({"job": num, **result}))


def test_tables_hold_every_job_in_order_with_their_values(tmp_path):
    job(tmp_path, 1, params={"optimizer.lr": 1.5}, lr=1.5, status="diverged", final_loss=9e4, h=1.6)
    job(tmp_path, 0, params={"optimizer.lr": 0.1}, lr=0.1, status="ok", final_loss=0.0134, h=1.6)
    job(tmp_path, 2, params={"optimizer.lr": -1}, lr=-1, status="failed", error="ConfigError: x")
    results = summarize(tmp_path)
    assert [r["job"] for r in results] == [0, 1, 2]
    with (tmp_path / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["optimizer.lr"], r["status"]) for r in rows] == [
        ("0.1", "ok"),
        ("1.5", "diverged"),
        ("-1", "failed"),
    ]
    assert float(rows[0]["final_loss"]) == 0.0134 and rows[2]["error"] == "ConfigError: x"
    assert "| 0.1 | 0 | ok | 0.1 | 0.0134 |" in (tmp_path / "summary.md").read_text()
    job(tmp_path, 3, params={"optimizer.lr": 2}, lr=2, status="failed", error="a | b")
    summarize(tmp_path)
    header, *_, failed = (tmp_path / "summary.md").read_text().splitlines()
    cells = lambda line: re.split(r"(?<!\\)\|", line)  # noqa: E731  (| not after a \)
    assert failed.endswith(r"| a \| b |") and len(cells(failed)) == len(cells(header))
    assert (tmp_path / "sweep.png").stat().st_size > 5_000
    assert (tmp_path / "summary").is_dir()  # the TensorBoard run with the figure


def test_jobs_in_nested_subdirs_are_collected(tmp_path):
    """hydra.sweep.subdir=lr_${optimizer.lr}/w${init.value}: each job two levels down."""
    for num, (lr, w) in enumerate([(0.1, 0), (0.1, 1), (0.5, 0)]):
        where = tmp_path / f"lr_{lr}" / f"w{w}"
        where.mkdir(parents=True)
        (where / "results.json").write_text(json.dumps({"job": num, "lr": lr, "status": "ok"}))
    assert [r["job"] for r in collect(tmp_path)] == [0, 1, 2]


def test_a_rebuilt_summary_replaces_its_tensorboard_events(tmp_path):
    """Summarizing again (scripts/summarize.py) leaves one event file, not one per rebuild,
    each of which TensorBoard would show."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    job(tmp_path, 0, params={"optimizer.lr": 0.1}, lr=0.1, status="ok", final_loss=0.0134, h=1.6)
    summarize(tmp_path)
    summarize(tmp_path)
    assert len(list((tmp_path / "summary").glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(tmp_path / "summary"), size_guidance={"images": 0})
    events.Reload()
    assert len(events.Images("sweep/final_loss_vs_lr")) == 1


def test_the_hparams_columns_are_every_jobs_settings_and_metrics(tmp_path):
    """TensorBoard takes the HParams table's columns from one experiment record: the summary's
    holds every setting and every metric any job has (final/b only where b trained), each
    setting typed as its values are; a job without a row (`callbacks.hparams=null`) adds none."""
    from tensorboard.plugins.hparams import api_pb2

    from conftest import hparams_plugin

    row = {"model": "linear", "optimizer.lr": 0.1, "model.bias": "false", "status": "ok"}
    names = ["final/train_loss", "final/val_loss", "final/w"]
    job(tmp_path, 0, status="ok", lr=0.1, final_loss=0.01, hparams=row, metrics=names)
    job(tmp_path, 1, status="ok", lr=0.1, final_loss=0.01, hparams={**row, "model.bias": "true"},
        metrics=[*names, "final/b"])  # fmt: skip
    job(tmp_path, 2, status="failed", lr=0.1, error="ConfigError: x")
    job(tmp_path, 3, status="ok", lr=0.1, final_loss=0.01, metrics=names,
        hparams={**row, "trainer.gradient_clip_val": "null"})  # fmt: skip
    job(tmp_path, 4, status="ok", lr=0.1, final_loss=0.01, metrics=names,
        hparams={**row, "trainer.gradient_clip_val": 0.5})  # fmt: skip
    summarize(tmp_path)
    record = plugin_data_pb2.HParamsPluginData.FromString(
        hparams_plugin(tmp_path / "summary")["_hparams_/experiment"]
    ).experiment
    types = {info.name: info.type for info in record.hparam_infos}
    assert types == {
        "model": api_pb2.DATA_TYPE_STRING,
        "optimizer.lr": api_pb2.DATA_TYPE_FLOAT64,
        "model.bias": api_pb2.DATA_TYPE_STRING,  # as typed: false, true
        "status": api_pb2.DATA_TYPE_STRING,
        "trainer.gradient_clip_val": api_pb2.DATA_TYPE_FLOAT64,  # a number in one job: numbers
    }
    assert [info.name.tag for info in record.metric_infos] == [*names, "final/b"]


def test_the_figure_takes_lr_from_the_config_when_it_was_not_swept(tmp_path):
    job(
        tmp_path,
        0,
        params={"experiment": "diverge"},
        lr=1.5,
        status="diverged",
        final_loss=7e4,
        h=1.6,
    )
    fig = draw(collect(tmp_path))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    xs = [x for line in ax.get_lines() for x in line.get_xdata()]
    assert 1.5 in xs and 1 / 1.6 in xs and 2 / 1.6 in xs  # the job, then 1/h and 2/h


def test_the_figure_rounds_drawn_values_and_marks_diverged_jobs_above_the_rest(tmp_path):
    """Optuna draws init.value with 16 digits; a diverged job's own loss (1e5) would squash
    the others: it is marked above the largest final loss of the jobs that ran to the end."""
    common = {"lr": 0.1, "h": 1.6}
    job(
        tmp_path,
        0,
        params={"init.value": 2.151893663724195},
        status="ok",
        final_loss=0.02,
        **common,
    )
    job(tmp_path, 1, params={"init.value": -1.0}, status="ok", final_loss=0.5, **common)
    job(tmp_path, 2, params={"init.value": 7.0}, status="diverged", final_loss=9e5, **common)
    ax = draw(collect(tmp_path)).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["init.value=2.15", "init.value=-1", "init.value=7"]
    (diverged,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert 0.5 < diverged.get_ydata()[0] < 3  # above 0.5, far below 9e5
    assert ax.get_title() == "the sweep: × diverged (drawn at the top)"  # no job failed


def test_no_group_of_jobs_that_ran_to_the_end_is_marked_as_failed_or_diverged(tmp_path):
    """The title reads × as diverged and ■ as failed: eight groups, none drawn with either."""
    for i in range(8):
        job(tmp_path, i, params={"init.value": i}, status="ok", final_loss=0.1 + i, lr=0.1, h=1.6)
    ax = draw(collect(tmp_path)).axes[0]
    markers = [line.get_marker() for line in ax.get_lines() if line.get_marker() != "None"]
    assert len(markers) == 8 and not {"s", "x"} & set(markers)
    assert ax.get_title() == "the sweep"  # no mark to explain


def test_final_losses_that_hardly_differ_get_a_linear_axis(tmp_path):
    """adam_vs_sgd: both end at the noise floor; a log axis over that span labels every tick
    with the same number."""
    job(tmp_path, 0, params={"optimizer": "sgd"}, lr=0.1, status="ok", final_loss=0.0133595)
    job(tmp_path, 1, params={"optimizer": "adam"}, lr=0.1, status="ok", final_loss=0.0133596)
    assert draw(collect(tmp_path)).axes[0].get_yscale() == "linear"


JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
STARTS = """
import sys, threading
from omegaconf import OmegaConf
from descentlab.sweep import SweepSummary
hydra = {"launcher": {"_target_": "%s"}, "sweep": {"dir": "sweep"}}
SweepSummary().on_multirun_start(OmegaConf.create({"hydra": hydra}))
for thread in threading.enumerate():
    if thread is not threading.main_thread():
        thread.join()
print("matplotlib" in sys.modules)
"""


@pytest.mark.parametrize("launcher, imported", [(JOBLIB, True), (BASIC_LAUNCHER, False)])
def test_a_sweep_whose_jobs_run_elsewhere_imports_matplotlib_as_it_starts(launcher, imported):
    """So that the summary does not wait for it after the last job; with the basic launcher,
    the jobs in this process import it themselves."""
    done = subprocess.run(
        [sys.executable, "-c", STARTS % launcher], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(imported)


def test_a_failed_jobs_hparams_row_is_its_settings_where_they_resolve():
    from omegaconf import OmegaConf

    from descentlab.callbacks.hparams import failed_row

    def row(hparams):
        return failed_row(OmegaConf.create({"lr": 0.5, "callbacks": {"hparams": hparams}}))

    assert row({"params": {"lr": "${lr}", "m": {"bias": True}}}) == {
        "lr": 0.5,
        "m.bias": "true",  # as a finished job's row has it
        "status": "failed",
    }
    assert row({"params": {"lr": "${nothing}"}}) == {"status": "failed"}  # the why, maybe
    assert row(None) is None  # callbacks.hparams=null: no table
