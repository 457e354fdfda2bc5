"""stockrnn: recurrent forecasters for daily stock prices, honest against a naive baseline."""

__version__ = "0.1.0"
