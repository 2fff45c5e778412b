"""TensorBoard's HParams table: the run's settings next to its real final metrics.

TensorBoard takes the table's columns from one experiment record in the logdir: in a sweep,
a job's own would leave out the metrics only other jobs have (`final/b` where some jobs have
a bias), so jobs write their row only and the sweep's summary writes the columns of all of
them (`descentlab.sweep.summarize`).
"""

from collections.abc import Mapping
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from descentlab.callbacks.divergence import run_status
from descentlab.summary import final_metrics


class HParams(Callback):
    """At the end of training, writes `params`, every key set on the command line and the run's
    `status` (ok or diverged), with the final metrics (`final/train_loss`, `final/val_loss`,
    `final/val_r2`, `final/<scalar>`).

    Written once, at the end, so the table never shows a placeholder such as hp_metric = -1.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise ValueError(
                f"callbacks.hparams.params={params}: must be a mapping of column → value"
            )
        # read here, where Hydra runs the job: ddp_spawn's worker processes, which write the
        # table, have no Hydra config to read them from
        self.params = settings(params)
        self.in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        self.metrics: dict[str, float] | None = None  # the final metrics, once computed

    def row(self, status: str) -> dict[str, Any]:
        """The run's settings as the table shows them, with its status (ok or diverged)."""
        return {**self.params, "status": status}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.logger is None:
            raise ValueError("callbacks.hparams needs a logger; set logger=tensorboard")
        metrics = self.metrics = final_metrics(pl_module, trainer.datamodule)
        params = self.row(run_status(trainer, metrics["final/train_loss"]))
        step = trainer.global_step
        if not self.in_sweep:
            trainer.logger.log_hyperparams(params, metrics=metrics, step=step)
            return
        if not trainer.is_global_zero:  # DDP: rank 0 writes
            return
        from torch.utils.tensorboard.summary import hparams

        _, start, end = hparams(params, metrics)  # the row; the sweep's summary writes the columns
        writer = trainer.logger.experiment._get_file_writer()  # None: fast_dev_run's stand-in
        if writer is not None:
            writer.add_summary(start, step)
            writer.add_summary(end, step)
        trainer.logger.log_metrics(metrics, step)


def settings(params: Mapping[str, Any]) -> dict[str, int | float | str]:
    """The row's settings: `params`, resolved, and every key set on the command line."""
    plain = OmegaConf.to_container(params, resolve=True) if OmegaConf.is_config(params) else params
    return {**cells(plain), **command_line()}


def failed_row(cfg: DictConfig) -> dict[str, int | float | str] | None:
    """A failed job's row, so that the table lists every job of a sweep: its settings and
    `status` failed; None where the run has no table (`callbacks.hparams=null`). Settings that
    do not resolve (which may be why it failed) are left to the command line's."""
    table = OmegaConf.select(cfg, "callbacks.hparams", throw_on_resolution_failure=False)
    if not isinstance(table, Mapping):
        return None
    try:
        row = settings(table["params"])
    except (OmegaConfBaseException, AttributeError):  # unresolvable, or not a mapping
        row = command_line()
    return {**row, "status": "failed"}


def command_line() -> dict[str, Any]:
    """key → value for each `key=value` override of this run, as a table cell (`cell`)."""
    if not HydraConfig.initialized():
        return {}
    overrides = OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))
    return {o.key_or_group: cell(o.value()) for o in overrides if not o.is_delete()}


def cell(value: Any) -> int | float | str:
    """A value as the table (and results.json) holds it: a number stays a number, so the table
    can sort and plot it; null, true and false as typed (the table takes no None, and torch's
    HParams record would show true as 1, a CSV as True); anything else, such as a list, as text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, int | float | str) else str(value)


def cells(params: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str]:
    """`params` as table cells, a nested mapping's keys joined by dots, as overrides name them."""
    flat: dict[str, int | float | str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(cells(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = cell(value)
    return flat
