"""The TensorBoard logger the `logger` config group builds."""

import inspect
import math
import time
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.tensorboard import SummaryWriter

from descentlab import checksum


class TensorBoard(TensorBoardLogger):
    """Lightning's TensorBoardLogger that never writes a non-finite number.

    A diverging run's last validation or final loss can be inf or nan; TensorBoard would draw it
    as a spike that flattens every other point. The run's status says it diverged instead.
    Records are checksummed in C (`descentlab.checksum`).

    Lightning saves the logger after every validation's metrics: a flush of the event file, which
    waits for the writer thread, and two file-system checks, 0.3 ms each time, every 10 steps in
    the seed example. TensorBoard reads the files every few seconds: they are saved at most every
    `save_every` seconds. The end of a run, also one ended by an exception, flushes and closes
    them (Lightning's `finalize`); a process killed outright loses what came after the last save.
    """

    def __init__(self, *args: Any, save_every: float, **kwargs: Any) -> None:
        check_writer_arguments(kwargs)
        checksum.install()
        super().__init__(*args, **kwargs)
        self.save_every = save_every
        self.saved_at = -math.inf  # time.monotonic() of the last save

    @rank_zero_only
    def save(self) -> None:
        now = time.monotonic()
        if now - self.saved_at >= self.save_every:
            self.saved_at = now
            super().save()

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        finite = {k: v for k, v in metrics.items() if not _non_finite(v)}
        super().log_metrics(finite, step)


def check_writer_arguments(kwargs: dict[str, Any]) -> None:
    """Lightning hands the keys it does not take itself to TensorBoard's SummaryWriter, which
    it builds when the first event is written: a mistyped key would end the run there, in a
    traceback, rather than here, before it starts."""
    logger = inspect.signature(TensorBoardLogger).parameters
    writer = inspect.signature(SummaryWriter).parameters
    allowed = [
        *(name for name, p in logger.items() if p.kind is not p.VAR_KEYWORD),
        "save_every",
        *(name for name in writer if name != "log_dir"),  # the logger sets log_dir itself
    ]
    for key in kwargs:
        if key not in allowed:
            raise TypeError(
                f"logger.{key}: not an argument of the TensorBoard logger or of its "
                f"SummaryWriter; allowed: {', '.join(allowed)}"
            )


def _non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
