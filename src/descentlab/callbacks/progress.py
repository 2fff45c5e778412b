"""The console progress bar."""

import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import RichProgressBarTheme
from rich.progress import BarColumn
from rich.table import Column


class ProgressBar(RichProgressBar):
    """Rich progress bar that counts steps: a run here is one long epoch, bounded by max_steps,
    and has its own dir rather than a version number (`v_num`).

    The step count and metrics are updated at most `refresh_rate` times a second, as often as
    the bar is redrawn, rather than on every step. Validation is a single batch every few steps,
    so it gets no bar of its own: Lightning's would add a hidden task per validation, which every
    later redraw walks through. val/loss still shows on the training bar.

    The bar redraws itself when it updates. Lightning's redraw thread is stopped as it starts:
    it sleeps 1/refresh_rate s between looks at a flag, and stopping the bar waited out that
    sleep, 60 ms on average at the end of every run (4 s in a 64-job sweep).
    """

    def __init__(self, refresh_rate: int) -> None:
        # 4 significant digits: 0.01336 near the optimum (".3f": 0.013), 1.056e+05 as a run
        # diverges (".3f": 105576.992, which pushes the bar past the line)
        super().__init__(
            refresh_rate=refresh_rate, theme=RichProgressBarTheme(metrics_format=".4g")
        )
        self.updated_at = -math.inf  # time.monotonic() of the last update
        self.batches = 0  # done, shown or not
        self.start = 0  # the step training starts at: a resumed run's checkpoint's

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = trainer.global_step  # a resumed run counts on from there, as its logs do
        super().on_train_start(trainer, pl_module)

    def _init_progress(self, trainer: L.Trainer) -> None:
        super()._init_progress(trainer)
        if self.progress is not None:
            # on a narrow terminal (80 columns) the bar gets shorter; Rich would otherwise wrap
            # the text columns first, val/loss's value and the times onto a second line (Rich
            # takes a column's settings from its private _table_column; Lightning builds them)
            for column in self.progress.columns:
                if not isinstance(column, BarColumn):
                    column._table_column = Column(no_wrap=True)
        live = self.progress.live if self.progress is not None else None
        if live is not None and live._refresh_thread is not None:
            live._refresh_thread.stop()  # it ends after its current sleep; no one waits for it
            live._refresh_thread = None

    def refresh(self, hard: bool = False) -> None:
        super().refresh(hard=True)  # now, not through the stopped thread

    def _get_train_description(self, current_epoch: int) -> str:
        return "steps"

    @property
    def total_train_batches(self) -> int | float:
        """Steps, not batches: with accumulate_grad_batches=a, a batches make one step. The run's
        one epoch holds exactly the batches of the steps left (`data.batches.batches_left`),
        after the `start` steps a resumed run's checkpoint holds."""
        return (
            self.start + self.trainer.num_training_batches // self.trainer.accumulate_grad_batches
        )

    def _add_task(self, total_batches: int | float, description: str, visible: bool = True) -> Any:
        task = super()._add_task(total_batches, description, visible)
        training = description == self._get_train_description(0)  # not the test's bar
        if training and self.start:  # shown from the start, not counted as progress made (rate)
            self.progress.reset(task, total=total_batches, completed=self.start, visible=visible)
        return task

    def _update(self, progress_bar_id: Any, current: int) -> None:
        if progress_bar_id != self.train_progress_bar_id:  # the test's: its batches as they are
            super()._update(progress_bar_id, current)
            return
        steps = current // self.trainer.accumulate_grad_batches
        super()._update(progress_bar_id, self.start + steps)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.is_disabled:  # refresh_rate 0
            return
        self.batches = batch_idx + 1
        now = time.monotonic()
        last = trainer.global_step == trainer.max_steps or trainer.should_stop  # always shown
        if now - self.updated_at < 1 / self.refresh_rate and not last:
            return
        self.updated_at = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The count where training ended, also where a later callback stopped it (divergence)
        after this bar's last update."""
        if not self.is_disabled and self.train_progress_bar_id is not None:
            self._update(self.train_progress_bar_id, self.batches)
        super().on_train_epoch_end(trainer, pl_module)

    def on_validation_batch_start(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        pass
