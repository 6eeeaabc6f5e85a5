"""Seed handling shared by every initializer of this package.

Seeding contract (differs from Keras 3 on purpose, see README):

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

import random

import keras

# Largest seed accepted by every backend's stateless RNG (TF takes int64 pairs, JAX
# uint32 keys): stay within a signed 32-bit range.
MAX_SEED = 2**31 - 1


def validate_seed(seed):
    """Returns `seed` if it is None or a non-negative int, else raises ValueError."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(
            f"`seed` must be None or an int in [0, {MAX_SEED}]. Received: seed={seed!r}"
        )
    return seed


def validate_float_dtype(dtype):
    """Standardizes `dtype` (default: `keras.config.floatx()`); must be floating."""
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if "float" not in dtype:
        raise ValueError(
            f"Initializers draw floating-point values only. Received: dtype={dtype}"
        )
    return dtype


def validate_shape(shape):
    """Returns `shape` as a tuple of positive ints, else raises ValueError."""
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`shape` must be a tuple of ints. Received: shape={shape!r}"
        ) from None
    if any(d <= 0 for d in shape):
        raise ValueError(f"Every dimension of `shape` must be positive. Received: shape={shape}")
    return shape


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
