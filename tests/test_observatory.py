"""The presets and the views that explain a run, end to end, checked against the theory
computed here from the run's own data."""

import itertools
import math
import re

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import hparams_plugin, scalars

pytestmark = pytest.mark.slow


def seed_data():
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double(), d.y_train.double()
    h = float(2 * (x * x).mean())  # h = 2·mean(x²)
    w_star = float((x * y).mean() / (x * x).mean())
    return h, w_star


def errors(logged, w_star: float) -> list[float]:
    return [w - w_star for _, w in logged["param/w"]]


def theory_text(run_dir) -> str:
    """The theory panel as TensorBoard's text tab shows it: the markdown the run wrote (text
    `theory`) rendered by TensorBoard's text plugin, each row of its table as `| a | b | c |`,
    so that a | or * in a cell (|w − w*|) that broke the table would show here."""
    import html

    import numpy as np
    from tensorboard.plugins.text.text_plugin import text_array_to_html

    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    written = events.Tensors("theory/text_summary")[-1].tensor_proto.string_val[0]
    shown = text_array_to_html(np.array(written), True)
    rows = [
        re.findall(r"<t[dh]>(.*?)</t[dh]>", row, re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", shown, re.S)
    ]
    return "\n".join("| " + " | ".join(html.unescape(cell) for cell in row) + " |" for row in rows)


def explain_rows(stdout: str) -> list[list[str]]:
    """The cells of the explain table's rows, as printed: below the rule under its header, one
    line a step, its first cell the step."""
    lines = stdout.splitlines()
    title = next(k for k, line in enumerate(lines) if line.startswith("the first steps: "))
    rule = next(k for k in range(title, len(lines)) if set(lines[k].strip()) == {"─"})
    rows = []
    for line in lines[rule + 1 :]:
        cells = line.split()
        if not cells or not cells[0].isdigit():
            break
        rows.append(cells)
    assert len(rows[0]) in (8, 9), rows[0]  # the columns of plain SGD, momentum or Adam
    return rows


def test_overshoot_alternates_and_contracts_at_1_minus_lr_h(run_app):
    proc, run_dir, _ = run_app("experiment=overshoot", name="overshoot")
    assert proc.returncode == 0, proc.stderr
    h, w_star = seed_data()
    lr = 0.9
    assert 1 / h < lr < 2 / h
    e = [v for v in errors(scalars(run_dir), w_star) if abs(v) > 1e-4]
    assert len(e) >= 8
    for a, b in itertools.pairwise(e):
        assert a * b < 0  # w jumps past w* every step
        assert abs(b / a) == pytest.approx(abs(1 - lr * h), rel=1e-3)
    text = theory_text(run_dir)
    assert f"{2 / h:.4g}" in text and f"{abs(1 - lr * h):.4g}" in text
    assert "theory vs this run" in proc.stdout


def test_diverge_stops_cleanly_at_the_step_it_blew_up(run_app):
    proc, run_dir, _ = run_app("experiment=diverge", name="diverge")
    assert proc.returncode == 0, proc.stderr
    h, w_star = seed_data()
    logged = scalars(run_dir)
    for tag, points in logged.items():
        assert all(math.isfinite(v) for _, v in points), tag
    loss = [v for _, v in logged["train/loss"]]
    last = len(loss) - 1
    assert last < 99  # stopped early
    assert loss[last] > 1e4 * loss[0] and all(v <= 1e4 * loss[0] for v in loss[:last])
    line = next(line for line in proc.stdout.splitlines() if "diverged at step" in line)
    assert f"diverged at step {last}:" in line
    assert "lr = 1.5" in line and f"critical lr {2 / h:.4g}" in line
    e = errors(logged, w_star)
    assert abs(e[-1] / e[-2]) == pytest.approx(abs(1 - 1.5 * h), rel=1e-3)  # grows at |1 − lr·h|
    rate = abs(1 - 1.5 * h)
    assert rate > 1
    # the bar shows the last validation's loss to 4 significant digits, on one line
    bar = next(line for line in proc.stdout.splitlines() if line.startswith("steps "))
    assert bar.endswith(f"val/loss: {logged['val/loss'][-1][1]:.4g}")
    assert "e+0" in bar  # 1.056e+05, not 105576.992
    assert f"| |w − w*| grows by, per step | {rate:.4g} | {rate:.4g} |" in theory_text(run_dir)
    start = hparams_plugin(run_dir)["_hparams_/session_start_info"]
    params = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
    assert params["status"].string_value == "diverged"


def test_with_accumulated_gradients_the_stop_and_the_table_see_whole_steps(run_app):
    """accumulate_grad_batches=2: a step is two micro-batches. Full batch, the run is the seed
    data's gradient descent and diverges where the full loss at the logged w passes 1e4 × the
    first; with mini-batches the table's formula and loss are the two micro-batches' mean."""
    import torch

    from descentlab.data.batches import Batches
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double(), d.y_train.double()
    proc, run_dir, _ = run_app(
        "experiment=diverge", "+trainer.accumulate_grad_batches=2", "explain=0", name="acc-div"
    )
    assert proc.returncode == 0, proc.stderr
    losses = [float(((w * x - y) ** 2).mean()) for _, w in scalars(run_dir)["param/w"]]
    last = next(k for k, loss in enumerate(losses) if loss > 1e4 * losses[0])
    assert f"diverged at step {last}: loss {losses[last]:.4g} >" in proc.stdout
    proc, run_dir, _ = run_app(
        "+trainer.accumulate_grad_batches=2", "data.batch_size=8", "trainer.max_steps=10",
        "explain=3", name="acc-explain",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # Lightning counts val_check_interval (10) in batches: two make a step (README)
    assert [step for step, _ in scalars(run_dir)["val/loss"]] == [5, 10]
    rows = explain_rows(proc.stdout)
    assert len(rows) == 3
    for _step, _w, _, autograd, formula, *_ in rows:
        assert float(autograd) == pytest.approx(float(formula), rel=1e-4)
    (xa, ya), (xb, yb) = itertools.islice(Batches(d.x_train, d.y_train, 8, 2, seed=0), 2)
    loss = torch.stack([((1.0 * xa - ya) ** 2).mean(), ((1.0 * xb - yb) ** 2).mean()]).mean()
    assert float(rows[0][2]) == pytest.approx(float(loss), rel=1e-5)  # step 0, at w = 1


def test_a_diverged_run_on_data_with_a_test_split_reports_it(run_app):
    """digits has a test split, tested after fitting: the run still says it diverged."""
    import json

    proc, run_dir, _ = run_app(
        "experiment=digits_mlp", "optimizer=sgd", "optimizer.lr=5", "trainer.max_steps=20",
        "trainer.val_check_interval=10", "callbacks.surface=null", name="digits-diverge",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    loss = [v for _, v in scalars(run_dir)["train/loss"]]
    assert loss[-1] > 1e4 * loss[0] and len(loss) < 20
    assert f"diverged at step {len(loss) - 1}:" in proc.stdout
    assert json.loads((run_dir / "results.json").read_text())["status"] == "diverged"


def test_seed_example_converges_monotonically_and_explains_its_first_steps(run_app):
    proc, run_dir, _ = run_app("trainer.max_steps=40", name="seed-explain")
    assert proc.returncode == 0, proc.stderr
    h, w_star = seed_data()
    assert 1 / h > 0.1
    e = errors(scalars(run_dir), w_star)
    assert all(v < 0 for v in e)  # w approaches w* from below, never passes it
    assert all(abs(b) < abs(a) for a, b in itertools.pairwise(e))
    rows = explain_rows(proc.stdout)
    assert [int(r[0]) for r in rows] == list(range(10))
    for _step, w, _, autograd, formula, lr, lr_grad, new_w in rows:
        assert float(autograd) == pytest.approx(float(formula), rel=1e-4)
        assert float(lr_grad) == pytest.approx(float(lr) * float(autograd), rel=1e-4)
        assert float(new_w) == pytest.approx(float(w) - float(lr_grad), abs=1e-4)


def test_freeze_and_explain_show_a_frozen_parameter(run_app):
    proc, run_dir, _ = run_app(
        "model.bias=true", "freeze=[w]", "trainer.max_steps=20", "explain=3", name="frozen"
    )
    assert proc.returncode == 0, proc.stderr
    logged = scalars(run_dir)
    assert {v for _, v in logged["param/w"]} == {1.0}
    assert "grad/w" not in logged and "grad/b" in logged
    assert proc.stdout.count("frozen") >= 6  # autograd and lr·dL/dw, on each of 3 rows


def test_explain_with_a_summed_loss_gives_autograds_gradient(run_app):
    """criterion.reduction=sum: dL/dw = 2·sum(x·(w·x − y)), n times the mean's."""
    proc, run_dir, _ = run_app(
        "criterion.reduction=sum", "optimizer.lr=0.001", "trainer.max_steps=10", name="sum"
    )
    assert proc.returncode == 0, proc.stderr
    rows = explain_rows(proc.stdout)
    assert len(rows) == 10
    for _step, _w, _, autograd, formula, *_ in rows:
        assert float(autograd) == pytest.approx(float(formula), rel=1e-4)
    h_mean, _ = seed_data()
    h_sum = h_mean * 192  # 2·sum(x²) over the 192 training samples: the panel names the sum
    assert f"| h = 2·sum(x²) | {h_sum:.4g} |" in theory_text(run_dir)


def test_explain_follows_momentum_and_names_adams_own_step(run_app):
    """With momentum μ the step is lr·v, v ← μ·v + dL/dw: the table shows v and lr·v, and each
    row's new w = w − lr·v (v checked row by row from the table's own gradients). Adam's step is
    its own: the table shows it as w − new w beside lr·dL/dw; its first is lr·sign(dL/dw)."""
    proc, _, _ = run_app("optimizer.momentum=0.5", "trainer.max_steps=10", name="momentum")
    assert proc.returncode == 0, proc.stderr
    assert "the first steps: w ← w − lr·v, v ← 0.5·v + dL/dw (momentum)" in proc.stdout
    rows, v = explain_rows(proc.stdout), 0.0
    assert len(rows) == 10
    for _step, w, _, autograd, _, lr, v_shown, lr_v, new_w in rows:
        v = 0.5 * v + float(autograd)
        assert float(v_shown) == pytest.approx(v, rel=1e-4)
        assert float(lr_v) == pytest.approx(float(lr) * v, rel=1e-4)
        assert float(new_w) == pytest.approx(float(w) - float(lr_v), abs=1e-4)
    proc, _, _ = run_app("optimizer=adam", "trainer.max_steps=10", name="adam")
    assert proc.returncode == 0, proc.stderr
    assert "the first steps: Adam makes its own step of dL/dw, not −lr·dL/dw" in proc.stdout
    rows = explain_rows(proc.stdout)
    assert len(rows) == 10
    for _step, w, _, autograd, _, lr, lr_grad, step, new_w in rows:
        assert float(lr_grad) == pytest.approx(float(lr) * float(autograd), rel=1e-4)
        assert float(step) == pytest.approx(float(w) - float(new_w), abs=1e-4)
    _, _, _, autograd, _, lr, _, step, _ = rows[0]  # m̂ = g, v̂ = g²: lr·g/|g|
    assert float(step) == pytest.approx(float(lr) * math.copysign(1, float(autograd)), rel=1e-5)


def test_a_frozen_bias_is_a_constant_in_the_theory(run_app):
    """freeze=[b]: w alone fits y − b, with h = 2·mean(x²) and w* = mean(x·(y − b))/mean(x²)."""
    proc, run_dir, _ = run_app(
        "model.bias=true", "freeze=[b]", "trainer.max_steps=150", "explain=0", name="frozen-b"
    )
    assert proc.returncode == 0, proc.stderr
    from descentlab import theory
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    logged = scalars(run_dir)
    b = logged["param/b"][0][1]
    assert {v for _, v in logged["param/b"]} == {b}  # frozen at its initial value
    x, y = d.x_train.double(), d.y_train.double() - b
    h = float(2 * (x * x).mean())
    w_star = float((x * y).mean() / (x * x).mean())
    joint = theory.least_squares(d.x_train, d.y_train, bias=True)["w"]  # b free: not this run
    assert abs(w_star - joint) > 1e-3
    text = theory_text(run_dir)
    assert f"| h = 2·mean(x²) | {h:.4g} |" in text and f"| w* | {w_star:.5g} |" in text
    assert f"(w* = {w_star:.5f})" in proc.stdout
    assert logged["param/w"][-1][1] == pytest.approx(w_star, abs=1e-4)


def test_with_a_bias_the_panel_measures_both_weights_and_the_steepest_direction(run_app):
    """θ = (w, b): the error shrinks by max |1 − lr·λ| over the Hessian's eigenvalues, and what
    overshoots at 1/λ_max < lr is the error along λ_max's eigenvector (on the seed data mostly
    b), while w − w* keeps its sign."""
    import numpy as np

    lr = 0.55
    proc, run_dir, _ = run_app(
        "model.bias=true", f"optimizer.lr={lr}", "scheduler=none", "trainer.max_steps=60",
        "explain=0", name="bias",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double().numpy().ravel(), d.y_train.double().numpy().ravel()
    hessian = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    lams, vectors = np.linalg.eigh(hessian)
    assert 1 / lams[1] < lr < 1 / lams[0]  # b's direction overshoots, w's does not
    w_star, b_star = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]
    logged = scalars(run_dir)
    e = np.array([[w - w_star, b - b_star] for (_, w), (_, b) in zip(
        logged["param/w"], logged["param/b"], strict=True)])[:51]  # fmt: skip
    along = e @ vectors[:, 1]
    along = along[: np.argmax(np.abs(along) <= 1e-5)]  # then within rounding
    flips = int(np.sum(along[1:] * along[:-1] < 0))
    assert flips >= 3 and np.all(e[:, 0] < 0)  # b overshoots; w never passes w*
    rate = max(abs(1 - lr * lams))
    text = theory_text(run_dir)
    assert f"| ‖(w, b) − (w*, b*)‖ shrinks by, per step | {rate:.4g} | {rate:.4g} |" in text
    assert "overshoots (sign of the error along λ_max's eigenvector alternates)" in text
    assert f"eigenvector flipped {flips} times in {len(along) - 1} steps" in text


def test_a_run_that_starts_at_the_optimum_has_no_flips_to_count(run_app):
    """Noise-free data from y = 3·x, started at w = 3: the error is 0 from the first step (as a
    run resumed near w* has it within rounding), and the panel says so."""
    proc, run_dir, _ = run_app(
        "data.noise=0", "init.value=3", "trainer.max_steps=20", "explain=0", name="at-optimum"
    )
    assert proc.returncode == 0, proc.stderr
    text = theory_text(run_dir)
    assert "| w* | 3 | 3 (final w) |" in text
    assert "| n/a: w − w* was within 1e-05 of 0 from the start |" in text
    assert "flipped" not in text


def test_the_panel_measures_momentums_spiral_and_leaves_mini_batches_unpredicted(run_app):
    proc, run_dir, _ = run_app("experiment=momentum", "explain=0", name="momentum-panel")
    assert proc.returncode == 0, proc.stderr
    rate = f"{0.9**0.5:.4g}"  # √μ: the spiral's rate at this lr
    assert f"| |w − w*| shrinks by, per step | {rate} | {rate} |" in theory_text(run_dir)
    proc, run_dir, _ = run_app("experiment=plateau", "trainer.max_steps=40", name="mini")
    assert proc.returncode == 0, proc.stderr
    text = theory_text(run_dir)
    assert "| behaviour at this lr | n/a: batches of 8 have curvatures of their own |" in text
    assert "converges monotonically" not in text


def test_the_theory_panel_gives_no_rate_for_sgd_with_weight_decay(run_app):
    """Weight decay λ moves the fixed point and the rate, to |1 − lr·(h + λ)|: the panel keeps h
    and w* and says n/a for the rest, instead of 2/h and |1 − lr·h|."""
    proc, run_dir, _ = run_app(
        "optimizer.weight_decay=0.5", "trainer.max_steps=20", "explain=0", name="decay"
    )
    assert proc.returncode == 0, proc.stderr
    h, w_star = seed_data()
    text = theory_text(run_dir)
    assert f"| w* | {w_star:.5g} |" in text
    assert "n/a: SGD with weight decay, dampening or Nesterov" in text
    assert f"{2 / h:.4g}" not in text and f"{abs(1 - 0.1 * h):.4g}" not in text


def test_digits_mlp_reaches_95_percent_in_under_a_minute_with_its_layer_names(run_app):
    import time

    start = time.perf_counter()
    proc, run_dir, _ = run_app("experiment=digits_mlp", name="digits")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60
    logged = scalars(run_dir)
    assert logged["test/acc"][-1][1] >= 0.95
    done = next(line for line in proc.stdout.splitlines() if line.startswith("done:"))
    assert f"test acc = {logged['test/acc'][-1][1]:.4g}" in done  # the headline, printed too
    for layer in ("layers.0", "layers.2", "layers.4"):
        assert f"grad_norm/{layer}.weight" in logged and f"update_ratio/{layer}.bias" in logged
    events = EventAccumulator(str(run_dir), size_guidance={"histograms": 1})
    events.Reload()
    assert "hist/grad/layers.4.weight" in events.Tags()["histograms"]
    assert (run_dir / "loss_slices.png").is_file()


@pytest.mark.parametrize("momentum", [0.0, None, 0.9])  # plain SGD, Adam, momentum
def test_the_explain_table_fits_80_columns_and_never_cuts_a_number(monkeypatch, momentum):
    """With the seed example's widest numbers (its step 7), plain SGD's table is one line a step
    in 80 columns; where a terminal is narrower than a table, a number folds within its cell:
    each step's lines hold every character of its row as a wide terminal prints it."""
    import io

    from rich.console import Console

    from descentlab.callbacks import explain

    table = explain.Explain(steps=10)
    table.title, table.momentum = "w ← w − lr·dL/dw", momentum
    row = {"w": 2.41912, "loss": 0.284796, "dL/dw autograd": -0.938562,
           "dL/dw formula": -0.938562, "lr": 0.1, "v": -3.24131, "new w": 2.51297}  # fmt: skip
    table.rows = [{"step": k, **row} for k in range(10)]

    def steps_printed(columns: int) -> list[list[str]]:
        """Each step's lines, below the rule under the header: a step's first line has its
        number in the first column, the lines its numbers fold onto have none."""
        shown = Console(width=columns, file=io.StringIO(), color_system=None)
        monkeypatch.setattr(explain, "console", shown)
        table.print()
        lines = shown.file.getvalue().splitlines()
        assert max(len(line) for line in lines) <= columns
        body = lines[next(k for k, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1 :]
        steps: list[list[str]] = []
        for line in body:
            if line[:4].strip().isdigit():
                steps.append([line])
            elif steps and line.strip():
                steps[-1].append(line)
        return steps

    wide = steps_printed(200)
    assert [len(lines) for lines in wide] == [1] * 10
    assert wide[7][0].split()[3] == "-0.938562"
    for columns in (80, 50):
        for lines, (whole,) in zip(steps_printed(columns), wide, strict=True):
            assert sorted("".join("".join(lines).split())) == sorted("".join(whole.split()))
    if momentum == 0.0:  # the seed example's table in an 80-column terminal
        assert [len(lines) for lines in steps_printed(80)] == [1] * 10
