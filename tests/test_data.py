import pytest
import torch

from descentlab.data.batches import Batches
from descentlab.data.digits import Digits
from descentlab.data.linear import LinearData


def data(**overrides) -> LinearData:
    args = dict(
        w_true=3.0,
        b_true=0.0,
        n=1000,
        noise=0.1,
        x_dist="normal",
        x_scale=1.0,
        val_fraction=0.25,
        batch_size=None,
        seed=0,
    )
    return LinearData(**{**args, **overrides})


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = data(), data(), data(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, c.x_train)


def test_split_sizes():
    d = data(n=200, val_fraction=0.25)
    assert (len(d.x_train), len(d.x_val)) == (150, 50)
    assert d.x_train.shape == (150, 1) and d.y_train.shape == (150, 1)


def test_y_is_w_true_x_plus_noise_of_the_given_std():
    d = data(n=20_000, noise=0.5, b_true=1.0)
    residual = d.y_train - (3.0 * d.x_train + 1.0)
    assert abs(residual.std().item() - 0.5) < 0.01
    assert abs(residual.mean().item()) < 0.01


def test_no_noise_puts_every_point_on_the_line():
    d = data(noise=0.0)
    torch.testing.assert_close(d.y_train, 3.0 * d.x_train)


def test_uniform_x_stays_in_its_range():
    d = data(x_dist="uniform", x_scale=2.0, n=5000)
    x = torch.cat([d.x_train, d.x_val])
    assert x.min() >= -2.0 and x.max() <= 2.0
    assert abs((x**2).mean().item() - 4 / 3) < 0.05  # mean(x²) of U(−2, 2)


def test_full_batch_yields_the_whole_training_set_each_step():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10.0).unsqueeze(1)
    batches = list(Batches(x, y, batch_size=None, steps=3, seed=0))
    assert len(batches) == 3
    assert all(bx is x and by is y for bx, by in batches)


def test_mini_batches_cover_each_pass_and_repeat_with_the_seed():
    x = torch.arange(10.0).unsqueeze(1)
    first = list(Batches(x, x, batch_size=4, steps=6, seed=3))
    again = list(Batches(x, x, batch_size=4, steps=6, seed=3))
    assert [len(bx) for bx, _ in first] == [4, 4, 2, 4, 4, 2]
    one_pass = torch.cat([bx for bx, _ in first[:3]]).flatten().sort().values
    assert torch.equal(one_pass, x.flatten())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))


def test_batches_from_start_continue_the_uninterrupted_sequence():
    """What a run resumed after `start` batches draws: the rest of the same sequence, across
    passes (3 batches a pass here)."""
    x = torch.arange(10.0).unsqueeze(1)
    straight = [bx for bx, _ in Batches(x, x, batch_size=4, steps=11, seed=3)]
    for start in (1, 3, 4, 8):
        resumed = [
            bx for bx, _ in Batches(x, x, batch_size=4, steps=11 - start, seed=3, start=start)
        ]
        assert len(resumed) == 11 - start
        assert all(torch.equal(a, b) for a, b in zip(straight[start:], resumed, strict=True))


class OnDevice:
    """What the data modules read of a Lightning Trainer: its step count and its device."""

    global_step, accumulate_grad_batches, max_steps = 0, 1, 5

    class strategy:  # the Trainer's attribute
        root_device = torch.device("meta")  # shapes only: no copy to make, any machine has it


@pytest.mark.parametrize("batch_size", [None, 100])
def test_the_data_modules_hand_their_batches_on_the_runs_device(batch_size):
    """Copied there once a run: Lightning then has no batch to copy to the device each step
    (a copy from pageable memory that would make the host wait for the GPU's last step)."""
    data = Digits(64, 10, 0.1, 0.1, batch_size, seed=0)
    data.trainer = OnDevice()
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        batches = list(loader)
        assert batches and all(bx.is_meta and by.is_meta for bx, by in batches)
    assert len(list(data.train_dataloader())) == OnDevice.max_steps
    assert not data.x_train.is_meta  # its own tensors stay where they are, for the views
