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
