"""One Hydra job: train, time it, and leave `results.json` in its run dir.

In a sweep (-m), a job that raises is recorded as failed, with its error, instead of stopping
the other jobs; `descentlab.sweep.SweepSummary` reports the failures when the sweep ends. A
job that raises after a Ctrl-C came is stopped by that Ctrl-C, whatever it raised (cleanup that
fails on what the interrupt left half done raises its own error: OmegaConf's, interrupted as it
builds a list, an AttributeError), and a Ctrl-C that Python dropped stops the next job to start
in the same process (`descentlab.ctrl_c`).
"""

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from descentlab import ctrl_c, events
from descentlab.callbacks.hparams import command_line, failed_row
from descentlab.errors import ConfigError
from descentlab.train import train

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, Any]:
    ctrl_c.remember()
    if ctrl_c.pressed:  # during an earlier job in this process, and dropped on the way
        raise KeyboardInterrupt
    share_cores()
    hydra = HydraConfig.get()
    start = time.perf_counter()
    job = OmegaConf.select(hydra, "job.num", default=None)  # set in sweeps only
    lr = OmegaConf.select(cfg, "optimizer.lr", default=None)
    result: dict[str, Any] = {"job": job, "params": command_line(), "lr": lr}
    try:
        final = train(cfg)
    except Exception as error:
        if ctrl_c.pressed:  # the error came with a Ctrl-C: that stops the sweep, not this job
            log.warning("job %s: stopped by Ctrl-C", job, exc_info=error)  # in the job's log
            raise KeyboardInterrupt from error
        if hydra.mode != RunMode.MULTIRUN:
            raise
        if isinstance(error, ConfigError):
            log.error("job %s: %s", job, error)
        else:
            log.exception("job %s failed", job)  # the traceback, in the job's log file
        result.update(status="failed", error=f"{type(error).__name__}: {error}")
        row = failed_row(cfg)
        if row is not None:  # its HParams row, as a finished job writes its own
            result["hparams"] = row
            write_failed_session(Path(hydra.runtime.output_dir), row)
    else:
        if not final:  # a DDP rank > 0: rank 0 writes the results
            return result
        result.update(
            status=final["status"],
            final_loss=final["final/train_loss"],
            final_val_loss=final["final/val_loss"],
            best_val_loss=final["best_val_loss"],
            final_w=final.get("final/w"),
            steps=final["steps"],
            h=final["h"],
            hparams=final["hparams"],  # its HParams row, and the final metrics logged with it
            metrics=[name for name in final if name.startswith("final/")],
        )
    result["wall_time_s"] = time.perf_counter() - start
    write(Path(hydra.runtime.output_dir) / "results.json", result)
    return result


def write_failed_session(run_dir: Path, row: dict[str, Any]) -> None:
    """The row in an event file of its own: the job's logger, if it got one, is closed."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(run_dir))
    for summary in events.failed_session(row):
        writer.add_event(events.event(summary, 0))
    writer.close()


def share_cores() -> None:
    """submitit_local starts all of a sweep's jobs at once, each a process that torch gives a
    thread per core: on 2 cores, two such jobs ran 20 times slower than one thread each, what
    joblib's and Ray's workers get."""
    if "SUBMITIT_LOCAL_JOB_ID" in os.environ:
        torch.set_num_threads(1)


def write(path: Path, result: dict[str, Any]) -> None:
    """JSON with non-finite numbers as null, so any JSON reader can load it."""
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()
    }
    path.write_text(json.dumps(clean, indent=2) + "\n")
