"""descentlab: see gradient descent work, from f(x) = w·x to any nn.Module."""

__version__ = "0.1.0"
