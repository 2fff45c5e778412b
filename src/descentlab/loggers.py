"""The TensorBoard logger the `logger` config group builds."""

import math
import time
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

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


def _non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
