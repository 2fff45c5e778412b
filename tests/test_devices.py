from descentlab.devices import device_for_job


def test_a_single_run_takes_one_device():
    assert device_for_job(None, gpus=4) == 1


def test_without_gpus_a_job_takes_one_device():
    assert device_for_job(3, gpus=0) == 1


def test_jobs_running_together_get_distinct_gpus():
    for gpus in (1, 2, 4, 8):
        for first in range(0, 40, gpus):  # any batch of `gpus` consecutive jobs
            batch = [device_for_job(job, gpus) for job in range(first, first + gpus)]
            assert sorted(d[0] for d in batch) == list(range(gpus))


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
