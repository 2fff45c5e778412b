"""descentlab: see gradient descent work, from f(x) = w·x to any nn.Module."""

from descentlab import quiet  # noqa: F401  (its filters, in every process that runs a job)

__version__ = "0.1.0"
