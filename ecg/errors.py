"""The project's own errors: what the app shows as a message and the command line as one line on stderr.

Apart from inference.py, so that reading a file can refuse it without importing the model.
"""


class InputError(ValueError):
    """Input the app cannot classify; the message says what is wrong and what is expected."""


class WeightsError(RuntimeError):
    """Weights missing, unsafe or not matching their metadata."""
