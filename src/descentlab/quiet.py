"""Lightning's and torch's messages that say nothing about a descentlab run, left out.

Set where the package is imported, so that every process that runs a job has them: also
ddp_spawn's workers, which import the modules of what they unpickle, not the command's.
"""

import logging
import warnings

# Data lives in memory as tensors: worker processes would only add start-up cost.
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*treespec, LeafSpec.*")  # Lightning's call, torch's warning
warnings.filterwarnings("ignore", ".*not available but strict is set to `False`.*")  # see plateau()
# A resumed run writes its checkpoints into its own new dir, by design: the earlier run's
# best-k bookkeeping that Lightning says it will not reload has no use there.
warnings.filterwarnings("ignore", ".*The dirpath has changed from.*")
# Per-step scalars go through StepScalars, not self.log, so log_every_n_steps has nothing to pace.
warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")

NOT_RUN_INFO = (
    "litlogger",  # an advertisement
    "`Trainer.fit` stopped",  # max_steps reached: the run's last line says how many it took
)
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not any(text in record.getMessage() for text in NOT_RUN_INFO)
)
