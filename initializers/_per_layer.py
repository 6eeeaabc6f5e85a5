"""One initializer instance per layer, each with its own draw.

The one rule, shared by the model builders and `initialize_weights`: the k-th
weight of a model gets a fresh copy of the prototype initializer whose seed is

* derived from a base seed when there is one, `layer_seed(base, k)` (the base is
  the `seed` passed to `initialize_weights`, else the prototype's own seed): a
  seeded model is reproducible and its same-shaped layers still differ;
* None otherwise: ours then draw fresh values on every call, and an unseeded Keras
  built-in rebuilt from its config picks a new seed of its own (Keras 3 fixes the
  seed of an unseeded instance when it is constructed, so a single shared instance
  would give same-shaped layers identical kernels).

Initializers without a seed (`Zeros`, `Constant`, ...) are shared as they are.
"""

import itertools
import random

import numpy as np

from initializers._base import MAX_SEED, derived_seed
from initializers._registry import get


def layer_seed(seed, index, stream=0):
    """The seed of the `index`-th weight of a model whose base seed is `seed`.

    Distinct and reproducible per (seed, index, stream) (numpy's `SeedSequence`;
    stream 0 for kernels, 1 for biases); None draws one from Python's `random`
    (reproducible under `keras.utils.set_random_seed`).
    """
    if seed is None:
        return random.randint(0, MAX_SEED)
    return derived_seed(seed, index, *([stream] if stream else []))


def fresh_initializer(prototype, index, seed=None, stream=0):
    """A new instance of `prototype` for the `index`-th weight of a model.

    Args:
        prototype: an initializer instance (ours or Keras's).
        index: position of the weight in the model (0, 1, ...).
        seed: base seed (default: the prototype's own seed, if any).
        stream: 0 for kernels, 1 for biases (their seeds then differ from the kernels').

    Returns:
        A copy whose seed is `layer_seed(base, index)` when there is a base seed,
        None otherwise; `prototype` itself when it has no seed at all.
    """
    config = prototype.get_config()
    if "seed" not in config:  # deterministic initializers (Zeros, Constant, ...)
        return prototype
    base = config["seed"] if seed is None else seed
    if base is not None and not isinstance(base, (int, np.integer)):
        base = None  # a Keras SeedGenerator: not a number to derive from
    derived = None if base is None else layer_seed(base, index, stream)
    return type(prototype).from_config({**config, "seed": derived})


def initializer_factory(identifier):
    """A function that returns a fresh initializer for each new layer of a model.

    The n-th call returns `fresh_initializer(get(identifier), n)`, so a builder
    that calls it once per weight layer gives every layer its own draw, also for a
    seeded identifier such as `GlorotUniform(seed=1)`, whose layers get seeds
    derived from 1 (reproducible, and distinct per layer).

    Example:

    >>> new_initializer = initializer_factory(HeNormal(seed=1))
    >>> dense = keras.layers.Dense(64, kernel_initializer=new_initializer())

    Raises:
        ValueError: for an unknown identifier or None.
    """
    prototype = get(identifier)
    if prototype is None:
        raise ValueError(
            f"`kernel_initializer` must not be None. Received: kernel_initializer={identifier!r}"
        )
    counter = itertools.count()
    return lambda: fresh_initializer(prototype, next(counter))
