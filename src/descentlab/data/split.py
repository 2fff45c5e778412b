"""Deterministic train / validation / test splits of in-memory tensors."""

import torch


def split(
    x: torch.Tensor, y: torch.Tensor, fractions: list[float], seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffle with `seed`, then cut off one part per fraction (each at least one sample);
    the rest is the first part returned, the training set."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    parts, start = [], 0
    sizes = [max(1, round(len(x) * f)) for f in fractions]
    for size in sizes:
        idx = order[start : start + size]
        parts.append((x[idx], y[idx]))
        start += size
    rest = order[start:]
    return [(x[rest], y[rest]), *parts]
