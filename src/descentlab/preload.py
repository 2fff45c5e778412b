"""What a joblib sweep's workers start with: imported once, by the fork server they are forked
from (`descentlab.forkserver`), each a lasting import (no full collection while it runs, then
frozen, so the workers' collections leave those pages shared).

Nothing here may initialize CUDA: a process forked after that could not use the GPU.
"""

from descentlab.imports import import_lasting

for name in (
    "descentlab.job",  # torch, Lightning and descentlab's training
    "descentlab.cli",  # the task Hydra's launcher sends each worker
    "hydra_plugins.hydra_joblib_launcher._core",  # the launcher's side of a job in a worker
    "joblib.externals.loky.process_executor",  # loky's worker loop
):
    import_lasting(name)
