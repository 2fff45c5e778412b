"""Which device a job trains on, so that parallel sweep jobs do not share a GPU."""

from omegaconf import OmegaConf


def device_for_job(job: int | None, gpus: int) -> int | list[int]:
    """[job mod gpus] in a sweep with GPUs visible (Lightning's `devices=[k]`: GPU k), else 1.

    Jobs running at the same time get distinct GPUs as long as no more of them run at once than
    there are GPUs. Where the launcher makes one GPU visible per job (Ray, SLURM) this is [0].
    """
    if job is None or gpus < 1:
        return 1
    return [job % gpus]


def job_devices() -> int | list[int]:
    """The `${descentlab.job_devices:}` resolver: device_for_job for the running Hydra job."""
    import torch
    from hydra.core.hydra_config import HydraConfig

    job = OmegaConf.select(HydraConfig.get(), "job.num", default=None)
    return device_for_job(job, torch.cuda.device_count())
