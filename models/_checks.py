"""Argument checks shared by the model builders."""


def check_positive_ints(**values):
    """Raises Keras's ValueError for the first argument that is not a positive int (bools
    refused). Usage: `check_positive_ints(depth=depth, width=width)`."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
