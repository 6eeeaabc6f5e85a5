"""A batch checked against a model's inputs, before any tool runs the model on it.

The doctor, LSUV and the diagnostics take "a batch" in any form Keras accepts: one
array for a one-input model, a list (or tuple) of arrays in the order of `model.inputs`,
or a dict of arrays by input name (the keys of a model built with a dict of
`keras.Input`s, else the inputs' names). `conform_batch` checks it once, in one place,
and returns it in the model's own structure, so that a wrong batch fails with one line
naming the input and both shapes (`InputMismatchError`) instead of a backend error deep
inside a forward pass, and so that the batch size is read from the batch, not from
`len(batch)` (a list of two inputs is not a batch of two).
"""

import keras
import numpy as np

from initializers.errors import InputMismatchError


def batch_size(batch):
    """Examples in a batch of any structure: the leading dimension of its first array."""
    leaves = keras.tree.flatten(batch)
    if not leaves:
        raise InputMismatchError("The batch holds no array.", f"batch={batch!r}")
    shape = _shape(leaves[0])
    if not shape:
        raise InputMismatchError("A batch's arrays need a batch dimension; got a scalar.",
                                 f"batch={describe(batch)}")
    return shape[0]


def describe(batch):
    """The shapes of a batch, as its structure holds them (for error messages)."""
    if isinstance(batch, dict):
        return "{" + ", ".join(f"{key!r}: {_shape(value)}" for key, value in batch.items()) + "}"
    if isinstance(batch, (list, tuple)):
        return "[" + ", ".join(str(_shape(value)) for value in batch) + "]"
    return f"array of shape {_shape(batch)}"


def model_inputs(model):
    """(structure, [(key, symbolic input)]) of a model's inputs: structure "single",
    "list" or "dict" (keys: the dict's keys for "dict", the inputs' names otherwise), or
    None when the model has no symbolic inputs (a subclassed model)."""
    try:
        inputs = list(model.inputs or ())
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    structure = getattr(model, "_inputs_struct", None)
    if isinstance(structure, dict):
        keys = keras.tree.flatten({key: key for key in structure})  # model.inputs' order
        return "dict", [(key, structure[key]) for key in keys]
    return ("single" if len(inputs) == 1 else "list"), [(tensor.name, tensor) for tensor in inputs]


def symbolic_inputs(model):
    """The model's symbolic inputs in its own structure (one tensor, a list, or a dict by
    the model's keys): what a sub-model over the same inputs is built from, so that it
    takes the batches the model takes."""
    structure, inputs = model_inputs(model)
    if structure == "single":
        return inputs[0][1]
    return dict(inputs) if structure == "dict" else [tensor for _, tensor in inputs]


def conform_batch(model, batch):
    """`(batch, batch_size)`: `batch` checked against `model`'s inputs and given in the
    model's own structure (a dict for a model built with a dict of inputs, a list for
    several inputs, one array for one).

    Raises:
        InputMismatchError: (a ValueError) a missing or extra input, an input whose shape
            differs from the model's (rank or a known dimension; the message names the
            input and both shapes), inputs whose batch sizes differ, or an empty batch.
    """
    described = f"batch={describe(batch)}"
    found = model_inputs(model)
    if found is None:  # no symbolic inputs to check against: only the batch sizes
        _same_batch_size([(str(i), leaf) for i, leaf in enumerate(keras.tree.flatten(batch))], described)
        return batch, batch_size(batch)
    structure, inputs = found
    keys = [key for key, _ in inputs]
    names = ", ".join(repr(key) for key in keys)
    if isinstance(batch, dict):
        missing = [key for key in keys if key not in batch]
        extra = [key for key in batch if key not in keys]
        if missing or extra:
            what = (f"no array for input {missing[0]!r}" if missing else f"an array for {extra[0]!r}, "
                    "which is not an input")
            raise InputMismatchError(f"Model '{model.name}' takes the inputs {names}; the batch has {what}.",
                                     described, (missing or extra)[0])
        arrays = [batch[key] for key in keys]
    elif isinstance(batch, (list, tuple)) and structure != "single":
        if len(batch) != len(inputs):
            raise InputMismatchError(f"Model '{model.name}' takes {len(inputs)} inputs ({names}); the batch "
                                     f"is a list of {len(batch)} arrays.", described)
        arrays = list(batch)
    elif isinstance(batch, (list, tuple)) and len(batch) == 1:
        arrays = list(batch)
    elif structure != "single":
        raise InputMismatchError(f"Model '{model.name}' takes {len(inputs)} inputs ({names}); the batch is "
                                 "one array. Pass a list of arrays in this order, or a dict by name.", described)
    else:
        arrays = [batch]
    for (key, tensor), array in zip(inputs, arrays):
        _check_shape(model, key, tensor, array, described)
    _same_batch_size(list(zip(keys, arrays)), described)
    if structure == "single":
        conformed = arrays[0]
    elif structure == "dict":
        conformed = dict(zip(keys, arrays))
    else:
        conformed = arrays
    return conformed, _shape(arrays[0])[0]


def _shape(value):
    shape = getattr(value, "shape", None)
    return tuple(int(d) if d is not None else None for d in (shape if shape is not None else np.shape(value)))


def _check_shape(model, key, tensor, array, described):
    expected, shape = tuple(tensor.shape), _shape(array)
    fits = len(shape) == len(expected) and all(e is None or e == d for e, d in zip(expected[1:], shape[1:]))
    if not fits:
        raise InputMismatchError(f"Input {key!r} of model '{model.name}' takes arrays of shape {expected}; the "
                                 f"batch gives one of shape {shape}.", described, key)


def _same_batch_size(named_arrays, described):
    sizes = {key: _shape(array)[0] if _shape(array) else None for key, array in named_arrays}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{key!r}: {size}" for key, size in sizes.items())
        raise InputMismatchError(f"The inputs' batch sizes differ ({listed}); every input needs one row per "
                                 "example.", described)
    if any(size == 0 for size in sizes.values()):
        raise InputMismatchError("The batch is empty (0 examples).", described)
