"""What a joblib sweep's workers start with: imported once, by the fork server they are forked
from (`descentlab.forkserver`): torch and Lightning with descentlab's job, every other module of
descentlab's (the classes any of its configs names: 0.06 s more), the launcher's side of a job
and loky's worker loop. Each is a lasting import (no full collection while it runs, then
frozen, so that the workers' collections leave those pages shared).

Nothing here may initialize CUDA: a process forked after that could not use the GPU.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl's option, from <linux/prctl.h>

# Ctrl-C reaches the command's whole process group: the command reports it, and the server,
# still importing, ends without a traceback of its own. The workers forked from it later get
# the handling the server started with (as loky's own workers do), unless it ignored Ctrl-C.
interrupt = signal.getsignal(signal.SIGINT)
if interrupt is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(128 + signum))
# the installed packages, not a file of the same name in the working dir, which `python -c`
# puts first; the workers then take the command's own sys.path
while "" in sys.path:
    sys.path.remove("")

try:
    import pkgutil

    import descentlab
    from descentlab.forkserver import PARENT
    from descentlab.imports import import_lasting

    # The server ends with the command (Linux's parent-death signal), not only once it has
    # imported and finds the command gone: a sweep refused by the checks the command runs while
    # the server imports leaves nothing behind. Its workers, forked later, do not inherit it,
    # nor the command's pid, which a command started from a job would otherwise take as its own.
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.environ.pop(PARENT, str(os.getppid())) != str(os.getppid()):
            os._exit(0)  # the command ended before the signal was set

    import_lasting("descentlab.job")
    for module in pkgutil.walk_packages(descentlab.__path__, "descentlab."):
        if module.name != "descentlab.__main__":  # the command itself
            import_lasting(module.name)
    import_lasting("hydra_plugins.hydra_joblib_launcher._core")
    import_lasting("hydra_plugins.descentlab_launcher.joblib_launcher")
    import_lasting("joblib.externals.loky.process_executor")
except Exception:
    pass  # the workers import the rest themselves, and a job reports the error where it runs
finally:
    signal.signal(signal.SIGINT, interrupt)
