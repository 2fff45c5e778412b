"""The benchmark's plain loop does the seed example's math (so the comparison is fair)."""

import importlib.util
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, scalars


def bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plain_loop_follows_gradient_descent_and_logs_the_same_tags(tmp_path):
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double(), d.y_train.double()
    h, w_star = float(2 * (x * x).mean()), float((x * y).mean() / (x * x).mean())
    w = bench().plain_seed_example(20, tmp_path, lr=0.1, w0=1.0)
    assert w == pytest.approx(w_star + (1 - 0.1 * h) ** 20 * (1.0 - w_star), abs=1e-5)
    logged = scalars(tmp_path)
    assert [s for s, _ in logged["param/w"]] == list(range(20))


def test_the_plain_loop_writes_what_a_default_run_writes(tmp_path, run_app):
    """Same tags, same steps, same values: the plain loop is the floor for the same work."""
    proc, run_dir, _ = run_app("trainer.max_steps=60", "explain=0")
    assert proc.returncode == 0, proc.stderr
    bench().plain_seed_example(60, tmp_path / "plain")
    ours, plain = scalars(run_dir), scalars(tmp_path / "plain")
    assert set(plain) == set(ours)
    for tag, points in ours.items():
        assert [s for s, _ in plain[tag]] == [s for s, _ in points], tag
        assert [v for _, v in plain[tag]] == pytest.approx([v for _, v in points], rel=1e-4), tag
    assert histogram_tags(tmp_path / "plain") == histogram_tags(run_dir)


def histogram_tags(run_dir) -> dict[str, list[int]]:
    events = EventAccumulator(str(run_dir), size_guidance={"histograms": 0})
    events.Reload()
    return {t: [e.step for e in events.Histograms(t)] for t in events.Tags()["histograms"]}


def test_time_to_first_step_stops_the_run_at_its_first_step(tmp_path):
    run_dir = tmp_path / "run"
    b = bench()
    seconds = b.to_first_step(b.FIRST_STEP, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert 0 < seconds < 120
    assert (run_dir / ".hydra" / "config.yaml").is_file()  # the run had started
    assert not (run_dir / "results.json").exists()  # and never finished


def test_b_in_turns_at_full_batches_has_every_batch_full_where_the_digits_do_not():
    """The row of b. that takes the nonlinear data at the digits' batch size: every step there
    sees a full batch, where every other digits step sees an epoch's last, of 233 samples."""
    b = bench()
    steps = b.IN_TURNS_STEPS["cpu"]
    full = {len(x) for x, _ in b.mlp_batches("nonlinear", 1024, steps)}
    digits = [len(x) for x, _ in b.mlp_batches("digits", 1024, steps)]
    assert full == {1024}
    assert set(digits) == {1024, 233} and digits.count(233) == steps // 2


@pytest.mark.parametrize("data", ["digits", "nonlinear"])
def test_the_plain_mlp_is_descentlabs_mlp_on_the_same_batches_and_loss(data):
    """b. compares like with like: the plain loop's MLP computes what descentlab's computes
    with b.'s overrides, on the same batches, with the task's loss."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from descentlab.cli import CONF_DIR

    b = bench()
    case = b.MLP_DATA[data]
    overrides = [*case.overrides, "model.widths=[1024,1024]", "data.batch_size=512"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    ours, plain = instantiate(cfg.model), b.plain_mlp_model(data)
    shapes = [p.shape for p in ours.parameters()]
    assert shapes == [p.shape for p in plain.parameters()]
    assert sum(p.numel() for p in plain.parameters()) > 1_000_000
    plain.load_state_dict(dict(zip(plain.state_dict(), ours.state_dict().values(), strict=True)))

    module = instantiate(cfg.data)
    x, y = next(iter(module.train_dataloader()))
    x_plain, y_plain = next(iter(b.mlp_batches(data, 512, steps=1)))
    assert torch.equal(x, x_plain) and torch.equal(y, y_plain)
    torch.testing.assert_close(plain(x), ours(x))
    loss = instantiate(cfg.criterion)(ours(x), y)
    torch.testing.assert_close(case.loss(plain(x), y), loss)


@pytest.mark.slow
@pytest.mark.parametrize("monitor", [True, False])
def test_the_plain_mlp_loop_writes_what_descentlabs_run_writes(tmp_path, run_app, monitor):
    """b. compares each variant with a plain loop doing the same work: the same tags at the
    same steps with the same values (same first weights, batches and updates), but for what
    only the run's end writes, which a long and a short run share."""
    b = bench()
    off = [] if monitor else ["callbacks.gradients=null"]
    mlp = b.mlp_overrides("digits", 1024, "cpu")
    proc, run_dir, _ = run_app(*mlp, *off, "trainer.max_steps=100", "explain=0")
    assert proc.returncode == 0, proc.stderr
    for _ in b.plain_mlp_steps(100, "digits", 1024, "cpu", tmp_path / "plain", monitor=monitor):
        pass
    at_end = ("final/", "test/", "epoch")  # epoch: Lightning's, written by its test loop
    ours = {tag: v for tag, v in scalars(run_dir).items() if not tag.startswith(at_end)}
    plain = scalars(tmp_path / "plain")
    assert set(plain) == set(ours)
    assert any(tag.startswith("update_ratio/") for tag in ours) == monitor
    for tag, points in ours.items():
        assert [s for s, _ in plain[tag]] == [s for s, _ in points], tag
        assert [v for _, v in plain[tag]] == pytest.approx([v for _, v in points], rel=1e-4), tag
    assert histogram_tags(tmp_path / "plain") == histogram_tags(run_dir)


@pytest.mark.slow
def test_the_timed_run_times_the_monitors_hooks(tmp_path, edges):
    """b.'s share of training in the monitor's hooks: they run within training, and take
    longer when they do more (histograms every step against at step 0 only, where the first
    one builds its bucket table either way), by at least a part of what those histograms take
    when timed here."""
    from descentlab.histogram import histogram

    b = bench()
    # digits_mlp's weights and biases (64 → 256 → 256 → 10), each also as its gradient
    shapes = [(256, 64), (256,), (256, 256), (256,), (10, 256), (10,)] * 2
    values = [torch.randn(shape) for shape in shapes]
    histogram(values[0], edges)  # the bucket table, built once

    def timed_step() -> float:
        start = time.perf_counter()
        for v in values:
            histogram(v, edges)
        return time.perf_counter() - start

    # the least disturbed of five, on one thread: two threads contending with another process
    # for two cores can take a hundred times as long (0.22 s, against 1.4 ms)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_step = min(timed_step() for _ in range(5))
    finally:
        torch.set_num_threads(threads)

    def hooks(hist_every: int, run: int) -> tuple[float, float]:
        _, out = b.app_output(
            "experiment=digits_mlp", "trainer.max_steps=30", "trainer.val_check_interval=10",
            "callbacks.surface=null",
            f"callbacks.gradients.hist_every={hist_every}",
            f"hydra.run.dir={tmp_path / f'{hist_every}-{run}'}",
            cwd=tmp_path, script=b.MONITOR_TIMED,
        )  # fmt: skip
        return b.monitor_hooks(out)

    # the two taking turns, twice: the least disturbed run of each (another process sharing
    # the cores adds its time slices to the hooks' wall time)
    runs = [(hooks(1000, run), hooks(1, run)) for run in range(2)]
    (spent_once, span_once), (spent_every, span_every) = (
        min(timed) for timed in zip(*runs, strict=True)
    )
    assert 0 < spent_once < span_once and 0 < spent_every < span_every
    # 29 more steps with histograms; a quarter of their time here, for the noise of two processes
    assert spent_every - spent_once > 29 * one_step / 4


def test_samples_per_s_inside_a_run_come_from_its_writes_of_steps_99_and_the_last(tmp_path):
    """Digits: 1 257 training images in batches of 1024 and 233, a pass every 2 steps, so steps
    100 to 199 take 50 passes, 62 850 samples; written 100 s apart, that is 628.5 a second."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for k in range(200):
        writer.add_scalar("train/loss", 1.0, k, walltime=5000.0 + k)
        writer.add_scalar("lr", 0.1, k, walltime=9000.0 + k)  # another tag, written at other times
    writer.close()
    b = bench()
    assert b.written_at(tmp_path, (99, 199)) == [5099.0, 5199.0]
    assert b.samples_per_s_inside(tmp_path, "digits", 1024, 200) == pytest.approx(628.5)


def test_a_run_writes_its_steps_50_at_a_time_as_they_end(tmp_path, run_app):
    """Steps 0–49 written together, then 50–99 once 50 more steps have run: further apart than
    the writes of one block (written a step at a time, steps 0 and 49 would be 49 times further
    apart than 49 and 50), all within the run."""
    start = time.time()
    proc, run_dir, _ = run_app("trainer.max_steps=200", "explain=0")
    end = time.time()
    assert proc.returncode == 0, proc.stderr
    t0, t49, t50, t99, t199 = bench().written_at(run_dir, (0, 49, 50, 99, 199))
    assert start < t0 <= t49 < t50 <= t99 < t199 < end
    # a block's writes take about 1 % of the next 50 steps' time here, also beside two busy
    # processes; 14 % once in a full test run
    assert t50 - t49 > 2 * (t49 - t0)


@pytest.mark.slow
def test_the_monitor_in_turns_runs_its_hooks_every_other_turn_and_times_each_step(tmp_path):
    """b.'s run that turns the monitor on and off every 20 steps: each step timed, its hooks
    run (and timed) in the turns on only, so that its histograms (every 50 steps) come at the
    steps of those turns; the samples/s of the turns on, without the hooks' time, are higher."""
    b = bench()
    args = [*b.mlp_overrides("digits", 128, "cpu"), "trainer.max_steps=180"]
    _, out = b.app_output(*args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                          script=b.MONITOR_IN_TURNS)  # fmt: skip
    turns = [line.split()[1:] for line in out.splitlines() if line.startswith("turn ")]
    assert [int(k) for k, *_ in turns] == list(range(1, 180))  # every step after the first
    assert all(on == ("on" if int(k) // 20 % 2 == 0 else "off") for k, on, *_ in turns)
    assert all(float(step_s) > 0 for *_, step_s, _ in turns)
    assert all((float(hooks) > 0) == (on == "on") for _, on, _, hooks in turns)
    assert all(float(hooks) < float(step_s) for *_, step_s, hooks in turns)
    # 0 and 50 in turns on (steps 0–19, 40–59); 100 and 150 in turns off (100–119, 140–159)
    histograms = histogram_tags(tmp_path / "run")
    assert "hist/grad/layers.0.weight" in histograms
    assert all(steps == [0, 50] for steps in histograms.values())

    # samples/s from step 100 on, each turn's steps counted with their own batch's samples
    n = [len(x) for x, _ in b.mlp_batches("digits", 128, 180)]
    on, on_without_hooks, off = b.in_turns(out, n)
    timed = [(int(k), on, float(step_s), float(h)) for k, on, step_s, h in turns if int(k) >= 100]
    on_s, off_s = (sum(s for _, o, s, _ in timed if o == turn) for turn in ("on", "off"))
    hooks_s = sum(h for *_, h in timed)
    # steps 100–119 and 140–159 on, 120–139 and 160–179 off
    assert sorted(o for _, o, *_ in timed) == ["off"] * 40 + ["on"] * 40
    on_n, off_n = (sum(n[k] for k, o, *_ in timed if o == turn) for turn in ("on", "off"))
    assert (on, on_without_hooks, off) == pytest.approx(
        (on_n / on_s, on_n / (on_s - hooks_s), off_n / off_s)
    )
    assert on_without_hooks > on


def test_the_plain_mlp_yields_once_set_up_then_after_each_step_and_writes_at_its_end(tmp_path):
    """b.'s plain loop as steps one can take in turns with descentlab's: set up at the first
    yield, a step at each next, and its per-step values written at its end."""
    b = bench()
    run = b.plain_mlp_steps(6, "digits", 64, "cpu", tmp_path)
    assert next(run) is None  # set up
    assert sum(1 for _ in run) == 6
    assert [k for k, _ in scalars(tmp_path)["train/loss"]] == list(range(6))


@pytest.mark.slow
def test_the_plain_loop_in_turns_takes_each_turn_after_descentlabs_and_times_each_step(tmp_path):
    """b.'s run of descentlab and the plain loop in one process: after each 20 steps of
    descentlab's, the plain loop's same 20 steps, each step of both timed; samples/s of each
    from step 100, each step counted with its own batch's samples."""
    b = bench()
    steps = 180
    args = [*b.mlp_overrides("digits", 128, "cpu"), "callbacks.gradients=null"]
    script = b.plain_in_turns_script(steps, "digits", 128, "cpu", tmp_path / "plain")
    _, out = b.app_output(*args, f"trainer.max_steps={steps}", f"hydra.run.dir={tmp_path / 'run'}",
                          cwd=tmp_path, script=script)  # fmt: skip
    lines = [line.split() for line in out.splitlines() if line.startswith(("ours ", "plain "))]
    expected = []
    for turn in range(0, steps, 20):  # descentlab's first step has no end before it to time from
        expected += [("ours", k) for k in range(max(turn, 1), turn + 20)]
        expected += [("plain", k) for k in range(turn, turn + 20)]
    assert [(who, int(k)) for who, k, _ in lines] == expected
    assert all(float(s) > 0 for *_, s in lines)

    n = [len(x) for x, _ in b.mlp_batches("digits", 128, steps)]
    timed = [(who, int(k), float(s)) for who, k, s in lines if int(k) >= 100]
    ours, plain = (
        sum(n[k] for who, k, _ in timed if who == side)
        / sum(s for who, _, s in timed if who == side)
        for side in ("ours", "plain")
    )
    assert b.with_plain_in_turns(out, n) == pytest.approx((ours, plain))


def test_figures_have_four_significant_digits_and_no_exponent():
    figure = bench().figure
    assert [figure(x) for x in (17_804.9, 1_838_000.4, 19_155, 1.2413, 0.34391, 27.784)] == [
        "17 800", "1 838 000", "19 160", "1.241", "0.3439", "27.78"
    ]  # fmt: skip
