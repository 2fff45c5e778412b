"""Which device a job trains on, so that sweep jobs running side by side do not share a GPU."""

import os
import stat

from omegaconf import OmegaConf

# The GPU this process holds, by the GPUs and lock dir it was chosen from: its index, and the
# lock file that holds it, open for as long as the process lives.
CLAIMED: dict[tuple[tuple[str, ...], str], tuple[int, int]] = {}


def device_for_job(job: int | None, gpus: int, held: int | None = None) -> int | list[int]:
    """In a sweep with GPUs visible, Lightning's `devices=[k]` (GPU k): the GPU this process
    holds, else GPU (job mod gpus); outside a sweep, or without GPUs, 1.

    A launcher's workers do not run consecutive jobs side by side (joblib sends each a batch of
    them), so a job number alone does not keep them apart; a GPU each process holds does.
    """
    if job is None or gpus < 1:
        return 1
    return [job % gpus if held is None else held]


def claim(gpu_ids: tuple[str, ...], lock_dir: str) -> int | None:
    """The index of the first of these GPUs that no other process of this user holds, held from
    then until this process ends (a lock on a file per GPU, which the system releases however
    the process ends); None where every one is held (asked again at the next job), or where
    file locks are not to be had."""
    if (gpu_ids, lock_dir) in CLAIMED:
        return CLAIMED[gpu_ids, lock_dir][0]
    try:
        import fcntl

        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        made = os.lstat(lock_dir)
        if not stat.S_ISDIR(made.st_mode) or made.st_uid != os.geteuid():
            return None  # a link, or someone else's dir: not to be trusted
        if made.st_mode & 0o077:
            os.chmod(lock_dir, 0o700)  # ours: no one else to remove or hold its lock files
    except (ImportError, OSError):  # not POSIX, or no place for the lock files
        return None
    for index, gpu in enumerate(gpu_ids):
        path = os.path.join(lock_dir, f"{gpu}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process holds this GPU
            os.close(fd)
            continue
        CLAIMED[gpu_ids, lock_dir] = index, fd
        return index
    return None


def job_devices() -> int | list[int]:
    """The `${descentlab.job_devices:}` resolver: device_for_job for the running Hydra job, with
    the GPU its process claims where more than one is visible (reading the GPUs' UUIDs starts
    CUDA in the process, as training on one would). Ray with `num_gpus=1` and SLURM with
    `gpus_per_node=1` make one GPU visible per job: GPU 0."""
    import tempfile

    import torch
    from hydra.core.hydra_config import HydraConfig

    job = OmegaConf.select(HydraConfig.get(), "job.num", default=None)
    gpus = torch.cuda.device_count()
    held = None
    if job is not None and gpus > 1:
        # by UUID: processes that see the GPUs in another order, or others of them, agree
        ids = tuple(
            str(getattr(torch.cuda.get_device_properties(k), "uuid", k)) for k in range(gpus)
        )
        try:
            user = os.geteuid() if hasattr(os, "geteuid") else ""  # a dir per user: theirs
            held = claim(ids, os.path.join(tempfile.gettempdir(), f"descentlab-gpus-{user}"))
        except OSError:  # no temp dir to be had
            held = None
    return device_for_job(job, gpus, held)
