"""Ctrl-C, remembered for the jobs a command runs in its own process.

Python drops a KeyboardInterrupt raised inside a finalizer (a `__del__`, "Exception ignored
in …"), and the end of a job runs many of them: a Ctrl-C landing there would let the sweep run
on to its end. The command's handler raises the KeyboardInterrupt as Python's does and also
remembers it, and the next job to start in that process stops the sweep.
"""

import signal
from types import FrameType

pressed = False  # a Ctrl-C came, whether or not its KeyboardInterrupt got through


def remember() -> None:
    """The command's SIGINT handler, where Python's own is in place (not where Ctrl-C is
    ignored, as for a command started in the background)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)


def interrupt(signum: int, frame: FrameType | None) -> None:
    global pressed
    pressed = True
    raise KeyboardInterrupt
