"""Seed handling shared by every initializer of this package.

Seeding contract (differs from Keras 3 on purpose, see docs/initializers.md):

* `seed=<int>`: every call returns bit-identical values for the same shape and
  dtype. Reusing one *seeded* instance for two layers of the same shape therefore
  gives two identical kernels, exactly as in Keras; `initialize_weights` derives a
  distinct seed per layer for you.
* `seed=None`: every call draws fresh values. Keras 3 instead fixes a random seed
  when an unseeded instance is *constructed*, so one unseeded instance reused for
  two layers silently gives them identical kernels. Here the per-call seed comes
  from Python's `random` module, so `keras.utils.set_random_seed(s)` still makes a
  whole program reproducible.
"""

import math
import numbers
import operator
import random

import keras
import numpy as np

# Largest seed accepted by every backend's stateless RNG (TF takes int64 pairs, JAX
# uint32 keys): stay within a signed 32-bit range.
MAX_SEED = 2**31 - 1


def _is_integer(value):
    # Python and numpy integers (np.int64 has __index__); bool is an int but not a count.
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def validate_seed(seed):
    """Returns `seed` (as a Python int) if it is None or an int in [0, MAX_SEED] (numpy
    integers included), else raises ValueError."""
    if seed is None:
        return None
    if not _is_integer(seed) or not 0 <= operator.index(seed) <= MAX_SEED:
        raise ValueError(
            f"`seed` must be None or an int in [0, {MAX_SEED}]. Received: seed={seed!r}"
        )
    return operator.index(seed)


def derived_seed(seed, *stream):
    """A seed derived from `seed` and the integers of `stream`, distinct and reproducible
    per (seed, *stream) (numpy's `SeedSequence`), within every backend's range."""
    entropy = [validate_seed(seed), *(operator.index(s) for s in stream)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0]) % MAX_SEED


def validate_real(name, value, *, positive=False):
    """Returns `value` as a finite Python float (numpy scalars included), else raises.

    Args:
        name: the argument's name, for the message.
        value: the value to check; bools and strings are not numbers here.
        positive: also require `value > 0`.
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(
        value, (bool, np.bool_)
    )
    if not is_number or not math.isfinite(float(value)) or (positive and not float(value) > 0):
        kind = "a finite positive number" if positive else "a finite number"
        raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")
    return float(value)


def validate_float_dtype(dtype):
    """Standardizes `dtype` (default: `keras.config.floatx()`); must be floating."""
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if "float" not in dtype:
        raise ValueError(
            f"Initializers draw floating-point values only. Received: dtype={dtype}"
        )
    return dtype


def validate_shape(shape):
    """Returns `shape` as a tuple of positive Python ints, else raises ValueError.

    Dimensions must be integers (Python or numpy); 2.5 is an error, not a 2.
    """
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or isinstance(shape, str) or not all(_is_integer(d) for d in dims):
        raise ValueError(f"`shape` must be a tuple of ints. Received: shape={shape!r}")
    dims = tuple(operator.index(d) for d in dims)
    if any(d <= 0 for d in dims):
        raise ValueError(f"Every dimension of `shape` must be positive. Received: shape={shape}")
    return dims


class SeededInitializer(keras.initializers.Initializer):
    """Base class: stores and validates `seed`, hands out the seed of one draw."""

    def __init__(self, seed=None):
        self.seed = validate_seed(seed)

    def _draw_seed(self):
        # Fresh seed per call when unseeded (see module docstring for why).
        if self.seed is None:
            return random.randint(0, MAX_SEED)
        return self.seed

    def get_config(self):
        return {"seed": self.seed}

    def with_seed(self, seed):
        """Returns a copy of this initializer with another `seed`."""
        return type(self).from_config({**self.get_config(), "seed": seed})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
