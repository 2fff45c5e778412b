import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def hold():
    """Start HOLD: a process holding a GPU (or None), and which; all stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(lock_dir: Path, gpus: str = '("GPU-a", "GPU-b")') -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD.replace('("GPU-a", "GPU-b")', gpus), str(lock_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc, proc.stdout.readline().strip()

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=60)
        proc.stdin.close()
        proc.stdout.close()


@pytest.fixture
def claims():
    """This process's claims, released after the test (the lock files closed)."""
    from descentlab import devices

    yield devices
    for _, fd in devices.CLAIMED.values():
        os.close(fd)
    devices.CLAIMED.clear()


def test_processes_side_by_side_claim_distinct_gpus_until_they_end(tmp_path, hold):
    started = [hold(tmp_path), hold(tmp_path), hold(tmp_path)]
    assert [said for _, said in started] == ["0", "1", "None"]  # the third shares
    started[0][0].stdin.close()
    assert started[0][0].wait(timeout=60) == 0
    assert hold(tmp_path)[1] == "0"  # what the first held is free again


def test_a_process_that_found_every_gpu_held_asks_again(tmp_path, claims, hold):
    _, (second, _) = hold(tmp_path), hold(tmp_path)
    assert claims.claim(("GPU-a", "GPU-b"), str(tmp_path)) is None
    second.kill()
    assert second.wait(timeout=60) != 0
    assert claims.claim(("GPU-a", "GPU-b"), str(tmp_path)) == 1  # freed: taken now
    assert claims.claim(("GPU-a", "GPU-b"), str(tmp_path)) == 1  # and kept


def test_no_gpu_is_claimed_in_another_users_dir_nor_through_a_link(tmp_path, claims, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target", target_is_directory=True)
    (tmp_path / "target").mkdir()
    assert claims.claim(("GPU-a", "GPU-b"), str(link)) is None
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path).st_uid + 1)
    assert claims.claim(("GPU-a", "GPU-b"), str(tmp_path / "theirs")) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target", "theirs"]
    assert list((tmp_path / "target").iterdir()) == list((tmp_path / "theirs").iterdir()) == []


def test_a_lock_dir_others_could_write_is_made_the_users_alone(tmp_path, claims):
    (tmp_path / "locks").mkdir(mode=0o777)
    os.chmod(tmp_path / "locks", 0o777)
    assert claims.claim(("GPU-a",), str(tmp_path / "locks")) == 0
    assert os.stat(tmp_path / "locks").st_mode & 0o777 == 0o700


def test_a_sweep_job_claims_a_gpu_by_its_uuid(tmp_path, claims, hold, monkeypatch):
    """Two GPUs visible, as to joblib's workers: GPU-x is held by another process (one that sees
    it as its GPU 0, as CUDA_VISIBLE_DEVICES may order them), so this job takes GPU-y."""
    import tempfile
    from types import SimpleNamespace

    import torch
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = OmegaConf.create({"job": {"num": 6}})
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: job))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    uuids = {0: "GPU-x", 1: "GPU-y"}
    properties = lambda k: SimpleNamespace(uuid=uuids[k])  # noqa: E731
    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    assert hold(tmp_path / f"descentlab-gpus-{os.geteuid()}", '("GPU-x",)')[1] == "0"
    assert claims.job_devices() == [1]
    assert claims.job_devices() == [1]  # held for the process's next jobs too


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
