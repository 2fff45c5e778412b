"""The logger saves its event files at most every `save_every` seconds, and always at the end;
the keys it hands on to its SummaryWriter are checked as it is built."""

from pathlib import Path

import pytest

from conftest import scalars
from descentlab.loggers import TensorBoard


def logger_counting_flushes(tmp_path: Path, save_every: float) -> tuple[TensorBoard, list[int]]:
    logger = TensorBoard(tmp_path, name="", version="", save_every=save_every)
    flushes = []
    flush = logger.experiment.flush

    def counted() -> None:
        flushes.append(1)
        flush()

    logger.experiment.flush = counted
    return logger, flushes


def test_saves_at_most_every_save_every_seconds(tmp_path):
    logger, flushes = logger_counting_flushes(tmp_path, save_every=3600)
    for step in range(5):  # as Lightning does after each validation's metrics
        logger.log_metrics({"val/loss": 1.0 / (step + 1)}, step)
        logger.save()
    assert len(flushes) == 1  # the first save only
    logger.finalize("failed")  # as Lightning ends a run, also one ended by an exception
    assert len(flushes) >= 2  # the end is flushed whatever the time since the last save
    expected = [(k, pytest.approx(1.0 / (k + 1), rel=1e-6)) for k in range(5)]  # float32
    assert scalars(tmp_path)["val/loss"] == expected


def test_save_every_zero_saves_each_time(tmp_path):
    logger, flushes = logger_counting_flushes(tmp_path, save_every=0)
    for _ in range(3):
        logger.save()
    assert len(flushes) == 3
    logger.finalize("success")


def test_the_writers_own_arguments_are_taken_and_a_mistyped_one_is_refused_at_once(tmp_path):
    """Lightning builds the SummaryWriter, with the keys it does not take, at the first event."""
    logger = TensorBoard(tmp_path, name="", version="", save_every=1.0, flush_secs=7)
    assert logger.experiment.flush_secs == 7  # handed on to the writer
    with pytest.raises(TypeError, match=r"^logger\.flush_sec: not an argument .* flush_secs,"):
        TensorBoard(tmp_path, name="", version="", save_every=1.0, flush_sec=7)
    logger.finalize("success")
