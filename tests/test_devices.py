import os
import subprocess
import sys

from descentlab.devices import device_for_job


def test_a_single_run_takes_one_device():
    assert device_for_job(None, gpus=4) == 1


def test_without_gpus_a_job_takes_one_device():
    assert device_for_job(3, gpus=0) == 1


def test_a_sweep_job_trains_on_the_gpu_its_process_holds_else_job_mod_gpus():
    assert [device_for_job(job, gpus=4, held=2) for job in range(5)] == [[2]] * 5
    assert [device_for_job(job, gpus=4) for job in range(5)] == [[0], [1], [2], [3], [0]]


# A process that claims one of two GPUs, says which, and holds it until its stdin closes.
HOLD = """
import sys
from descentlab.devices import claim
print(claim(("GPU-a", "GPU-b"), sys.argv[1]), flush=True)
sys.stdin.read()
"""


def test_processes_side_by_side_claim_distinct_gpus_until_they_end(tmp_path):
    def start() -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(tmp_path / "locks")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return proc, proc.stdout.readline().strip()

    first, second, third = start(), start(), start()
    try:
        assert [first[1], second[1], third[1]] == ["0", "1", "None"]  # the third shares
        first[0].stdin.close()
        assert first[0].wait(timeout=60) == 0
        fourth = start()  # what the first held is free again
        assert fourth[1] == "0"
        fourth[0].stdin.close()
    finally:
        for proc, _ in (first, second, third):
            proc.kill()


def test_a_sweep_job_claims_a_gpu_by_its_uuid(tmp_path, monkeypatch):
    """Two GPUs visible, as to joblib's workers: GPU-x is held by another process (one that sees
    it as its GPU 0, as CUDA_VISIBLE_DEVICES may order them), so this job takes GPU-y."""
    import tempfile
    from types import SimpleNamespace

    import torch
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from descentlab import devices

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(
        HydraConfig, "get", staticmethod(lambda: OmegaConf.create({"job": {"num": 6}}))
    )
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    uuids = {0: "GPU-x", 1: "GPU-y"}
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda k: SimpleNamespace(uuid=uuids[k])
    )
    lock_dir = tmp_path / f"descentlab-gpus-{os.getuid()}"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD.replace('("GPU-a", "GPU-b")', '("GPU-x",)'), str(lock_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    devices.claim.cache_clear()
    try:
        assert other.stdout.readline().strip() == "0"
        assert devices.job_devices() == [1]
        assert devices.job_devices() == [1]  # held for the process's next jobs too
    finally:
        other.kill()
        for fd in devices.HELD:
            os.close(fd)
        devices.HELD.clear()
        devices.claim.cache_clear()


def test_one_visible_gpu_per_job_is_always_gpu_0():
    assert [device_for_job(job, gpus=1) for job in range(5)] == [[0]] * 5


def test_no_code_places_tensors_on_a_named_device():
    """Tensors follow the model (`pl_module.device`, `x.device`): nothing pins them to the CPU
    or a GPU, so `trainer.accelerator=gpu` runs the same code."""
    import re
    from pathlib import Path

    named = re.compile(r"\.cuda\(|device\s*=\s*[\"']|torch\.device\([\"']|\.to\([\"'](cpu|cuda)")
    src = Path(__file__).resolve().parents[1] / "src"
    hits = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if named.search(line)
    ]
    assert hits == []
