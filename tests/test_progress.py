"""The progress bar: one task for the whole run, however many validations it holds."""

import io
import time

import lightning as L
import pytest
import torch

from descentlab.callbacks.progress import ProgressBar
from descentlab.data.linear import LinearData
from descentlab.models.linear import Linear
from descentlab.module import DescentModule


class Tasks(L.Callback):
    """Counts the bar's tasks and how many times it was updated, before the bar stops."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar, self.updates = bar, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.updates = int(self.bar.progress.tasks[0].completed)
        self.seen = [*getattr(self, "seen", []), self.updates]

    def on_train_end(self, trainer, pl_module) -> None:
        self.tasks = len(self.bar.progress.tasks)
        self.final = int(self.bar.progress.tasks[0].completed)
        self.total = self.bar.progress.tasks[0].total


class StopAt(L.Callback):
    """Stops training after `step` steps, as the divergence check does: after the bar's update."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        trainer.should_stop = trainer.global_step == self.step


def fit(
    max_steps: int, val_check_interval: int, *callbacks: L.Callback, accumulate: int = 1
) -> L.Trainer:
    """The seed model fitted with `callbacks` (the bar first) and no logger."""
    data = LinearData(3.0, 0.0, 64, 0.1, "normal", 1.0, 0.25, None, seed=0)
    module = DescentModule(Linear(bias=False), torch.nn.MSELoss(), torch.optim.SGD)
    trainer = L.Trainer(
        max_steps=max_steps,
        val_check_interval=val_check_interval,
        logger=False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
        accumulate_grad_batches=accumulate,
    )
    trainer.fit(module, datamodule=data)
    return trainer


def test_validations_add_no_tasks_and_the_count_ends_at_the_last_step():
    bar = ProgressBar(refresh_rate=10)
    tasks = Tasks(bar)  # after the bar in the list: sees its state after its update
    trainer = fit(40, 2, bar, tasks)
    assert tasks.tasks == 1  # the training bar only, after 20 validations
    assert tasks.updates == 40  # the last step is always shown
    assert trainer.callback_metrics["val/loss"] > 0  # validation ran


def test_a_run_stopped_after_the_bars_update_ends_at_its_last_step():
    bar = ProgressBar(refresh_rate=1)  # the steps after the first come within its second
    tasks = Tasks(bar)
    trainer = fit(100, 50, bar, StopAt(7), tasks)
    assert trainer.global_step == 7 and tasks.final == 7


def test_with_accumulated_gradients_the_bar_counts_steps_not_batches():
    bar = ProgressBar(refresh_rate=10)
    tasks = Tasks(bar)
    trainer = fit(30, 10, bar, tasks, accumulate=3)
    assert trainer.global_step == 30 and (tasks.final, tasks.total) == (30, 30)


@pytest.mark.filterwarnings("ignore:Checkpoint directory", "ignore:You're resuming from")
def test_a_resumed_run_counts_on_from_its_checkpoints_step(tmp_path):
    """Resumed at step 20 with max_steps=50: the bar goes from 20 to 50 of 50, as the logs and
    the last line count, not from 0 to 30 of 30."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    class WithTest(LinearData):  # a test split, as the digits have: the validation set here
        def test_dataloader(self):
            return self.val_dataloader()

    data = WithTest(3.0, 0.0, 64, 0.1, "normal", 1.0, 0.25, None, seed=0)
    module = DescentModule(Linear(bias=False), torch.nn.MSELoss(), torch.optim.SGD)

    def trainer(max_steps: int, *callbacks: L.Callback) -> L.Trainer:
        return L.Trainer(
            max_steps=max_steps, val_check_interval=10, logger=False, accelerator="cpu",
            callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True), *callbacks],
            enable_progress_bar=bool(callbacks), enable_model_summary=False,
        )  # fmt: skip

    trainer(20).fit(module, datamodule=data)
    bar = ProgressBar(refresh_rate=10**6)  # every step shown
    tasks = Tasks(bar)
    resumed = trainer(50, bar, tasks)
    resumed.fit(module, datamodule=data, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.global_step == 50
    assert (tasks.final, tasks.total) == (50, 50)
    assert tasks.seen[0] == 21  # its first step: the 21st
    resumed.test(module, datamodule=data)  # the test's own bar counts its batches: 1 of 1
    (test,) = [t for t in bar.progress.tasks if "Testing" in str(t.description)]
    assert (test.completed, test.total) == (1, 1)


def test_refresh_rate_0_trains_with_no_bar():
    bar = ProgressBar(refresh_rate=0)
    trainer = fit(5, 5, bar)
    assert trainer.global_step == 5 and bar.progress is None


class FitEnd(L.Callback):
    def on_fit_end(self, trainer, pl_module) -> None:
        self.at = time.perf_counter()  # what is left after this is stopping the bar (teardown)


def test_stopping_the_bar_waits_for_no_redraw_thread():
    bar = ProgressBar(refresh_rate=1)  # Lightning's redraw thread sleeps 1 s between looks
    end = FitEnd()
    fit(5, 5, bar, end)
    assert time.perf_counter() - end.at < 0.2  # waiting out the thread's sleep: up to 1 s
    assert bar.progress.tasks[0].completed == 5  # the last step was drawn all the same


class Drawn(L.Callback):
    """The bar as a 70-column terminal shows it, with a long val/loss, before the bar stops."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar

    def on_train_end(self, trainer, pl_module) -> None:
        from rich.console import Console

        self.bar._metric_component.update({"val/loss": 2.636e-13})  # as a noise-free run ends
        console = Console(width=70, file=io.StringIO(), color_system=None)
        console.print(self.bar.progress.make_tasks_table(self.bar.progress.tasks))
        self.lines = console.file.getvalue().rstrip("\n").splitlines()


def test_on_a_narrow_terminal_the_bar_is_one_line_its_bar_shorter():
    """Rich would wrap the text columns first: val/loss's value on a line of its own."""
    bar = ProgressBar(refresh_rate=10)
    drawn = Drawn(bar)
    fit(300, 10, bar, drawn)
    assert len(drawn.lines) == 1, drawn.lines
    assert drawn.lines[0].startswith("steps ━") and drawn.lines[0].endswith("val/loss: 2.636e-13")
