import torch

from descentlab.models.linear import Linear


def test_linear_has_one_weight_named_w():
    model = Linear(bias=False)
    assert [name for name, _ in model.named_parameters()] == ["w"]
    assert model.w.requires_grad


def test_linear_computes_w_x_plus_b():
    model = Linear(bias=True)
    with torch.no_grad():
        model.w.fill_(3.0)
        model.b.fill_(-0.5)
    x = torch.tensor([[1.0], [2.0], [-4.0]])
    torch.testing.assert_close(model(x), torch.tensor([[2.5], [5.5], [-12.5]]))
    assert [name for name, _ in model.named_parameters()] == ["w", "b"]


def test_backward_puts_dL_dw_in_w_grad():
    """w.grad after backward is the slope of L at w, 2·mean(x·(w·x − y)), not w itself."""
    model = Linear(bias=False)
    with torch.no_grad():
        model.w.fill_(1.0)
    x = torch.linspace(-2, 2, 9).unsqueeze(1)
    y = 3 * x
    torch.nn.MSELoss()(model(x), y).backward()
    expected = 2 * (x * (1.0 * x - y)).mean()
    torch.testing.assert_close(model.w.grad, expected)
    assert model.w.grad < 0  # w = 1 < w* = 3: the loss falls as w grows
