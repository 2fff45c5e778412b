"""The TensorBoard logger the `logger` config group builds."""

import math
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from descentlab import checksum


class TensorBoard(TensorBoardLogger):
    """Lightning's TensorBoardLogger that never writes a non-finite number.

    A diverging run's last validation or final loss can be inf or nan; TensorBoard would draw it
    as a spike that flattens every other point. The run's status says it diverged instead.
    Records are checksummed in C (`descentlab.checksum`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        checksum.install()
        super().__init__(*args, **kwargs)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        finite = {k: v for k, v in metrics.items() if not _non_finite(v)}
        super().log_metrics(finite, step)


def _non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
