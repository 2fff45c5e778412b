"""Ctrl-C, remembered for the jobs of a process (`descentlab.job.run`).

A KeyboardInterrupt does not always get through: Python drops one raised inside a finalizer
(a `__del__`, "Exception ignored in …"), and the end of a job runs many of them; cleanup code
that fails on what it left half done raises its own error instead. Either would let a sweep
run on. The handler installed here raises it as Python's does and also remembers it.
"""

import signal
from types import FrameType

pressed = False  # a Ctrl-C came, whether or not its KeyboardInterrupt got through


def remember() -> None:
    """This handler for SIGINT, where Python's own is in place (not where Ctrl-C is ignored, as
    for a command started in the background, or where Lightning ignores it after one)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)


def interrupt(signum: int, frame: FrameType | None) -> None:
    global pressed
    pressed = True
    raise KeyboardInterrupt
