"""descentlab's histogram proto against TensorBoard's own `make_histogram`."""

import math

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import make_histogram

from descentlab.histogram import add_histogram, histogram


def at_the_edges(edges: list[float]) -> torch.Tensor:
    """Every bucket edge as a float32 and its two neighbours, where counting is easiest to get
    wrong."""
    e = torch.tensor(edges, dtype=torch.float32)
    return torch.cat([e, e.nextafter(torch.tensor(math.inf)), e.nextafter(torch.tensor(-math.inf))])


CASES = {
    "weights": lambda edges: torch.randn(256, 64) * 0.05,
    "at the edges": at_the_edges,
    "many scales": lambda edges: torch.randn(10_000) * torch.exp(torch.randn(10_000) * 8),
    "one value": lambda edges: torch.tensor([3.0]),
    "zeros": lambda edges: torch.zeros(5),
    "signed zeros and tiny": lambda edges: torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1e-13, -1e-13]),
    "beyond the edges": lambda edges: torch.tensor([1e30, -1e30, 2.0]),
    "not finite": lambda edges: torch.tensor([1.0, math.inf, -2.0, math.nan]),
    "float64": lambda edges: torch.randn(100, dtype=torch.float64),
}


@pytest.mark.parametrize("case", CASES)
def test_the_proto_is_tensorboards(case, edges):
    torch.manual_seed(0)
    values = CASES[case](edges)
    ours = histogram(values, edges)
    theirs = make_histogram(values.numpy().astype(float), edges)
    assert list(ours.bucket) == list(theirs.bucket)
    assert list(ours.bucket_limit) == list(theirs.bucket_limit)
    assert ours.num == theirs.num
    for stat in ("min", "max"):
        np.testing.assert_equal(getattr(ours, stat), getattr(theirs, stat), err_msg=stat)
    # both sums in float64, in another order than TensorBoard's: equal to rounding, which is
    # relative to the sum of the magnitudes (values of both signs cancel in Σv, not in Σv²)
    magnitudes = values.double().abs().sum().item()
    np.testing.assert_allclose(ours.sum, theirs.sum, rtol=1e-12, atol=1e-12 * magnitudes)
    np.testing.assert_allclose(ours.sum_squares, theirs.sum_squares, rtol=1e-12)


def test_a_tensor_without_finite_values_or_empty_writes_no_histogram(tmp_path):
    writer = SummaryWriter(tmp_path)
    add_histogram(writer, "hist/nan", torch.full((4,), math.nan), 0)
    add_histogram(writer, "hist/empty", torch.ones(0, 8), 0)  # a layer of width 0
    add_histogram(writer, "hist/ok", torch.ones(4), 0)
    writer.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    events.Reload()
    assert events.Tags()["histograms"] == ["hist/ok"]
    assert events.Histograms("hist/ok")[0].histogram_value.num == 4
