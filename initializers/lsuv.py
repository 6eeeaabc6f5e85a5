"""Layer-sequential unit-variance initialization (LSUV), Mishkin & Matas 2016.

A data-dependent initialization: orthonormal kernels first (Saxe et al. 2014), then,
layer by layer in forward order, each kernel is divided by the standard deviation of
its layer's output on one minibatch until that variance is 1 within a tolerance
(Mishkin & Matas, "All you need is a good init", ICLR 2016, Algorithm 1).
"""

import dataclasses
import math
import numbers
import operator

import keras
import numpy as np

from initializers._base import validate_real, validate_seed
from initializers._fans import WEIGHT_LAYER_TYPES, layer_fans
from initializers._graph import weight_layers
from initializers._inputs import conform_batch, symbolic_inputs
from initializers._table import RecordTable
from initializers._weights import is_plain_graph, unchanged_on_error, weight_specs
from initializers.diagnostics.tracing import intercepted, measured_weight, trace
from initializers.errors import LayerOutputError, UnsupportedModelError
from initializers.orthogonal import Orthogonal
from initializers.reinit import initialize_weights

# The layers whose kernel LSUV rescales (a MultiHeadAttention's projections are EinsumDense).
RESCALED = WEIGHT_LAYER_TYPES + (keras.layers.EinsumDense,)

LSUV_NAME = "lsuv"
# An output variance at or below this (or not finite) is a constant output: nothing
# to rescale (a layer behind dead ReLUs, or an all-zero batch).
CONSTANT_OUTPUT_VARIANCE = 1e-12
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


@dataclasses.dataclass(frozen=True)
class LSUVRecord:
    """What `lsuv` did to one kernel.

    `variance_before` is the layer's output variance on the batch right after the
    orthonormal pre-initialization, `variance` at the end; `scale` the factor the
    kernel was multiplied by; `status` "converged" (|variance - 1| < tol),
    "max_iterations" (the cap was reached first), "skipped: constant output" or
    "orthonormal only" (the depthwise kernel of a separable convolution, whose
    pointwise kernel is the one rescaled).
    """

    layer: str
    weight: str
    shape: tuple
    fan_in: int
    fan_out: int
    iterations: int
    variance_before: float | None
    variance: float | None
    scale: float
    std: float
    status: str

    def as_dict(self):
        return dataclasses.asdict(self)


class LSUVRecords(RecordTable):
    """List of `LSUVRecord` that prints as a table."""

    COLUMNS = ("layer", "weight", "shape", "fan_in", "fan_out", "iterations", "variance_before",
               "variance", "scale", "std", "status")


def lsuv_options(identifier):
    """The `lsuv` keyword arguments an initializer identifier asks for, or None.

    `"lsuv"` asks for the defaults, `{"class_name": "lsuv", "config": {"tol": 0.05}}` for
    others: how a run config names LSUV (the harness then passes a training batch).
    """
    if identifier == LSUV_NAME:
        return {}
    if isinstance(identifier, dict) and identifier.get("class_name") == LSUV_NAME:
        return dict(identifier.get("config") or {})
    return None


def _check_arguments(tol, max_iterations, on_constant_output):
    tol = validate_real("tol", tol, positive=True)
    if not (isinstance(max_iterations, numbers.Integral) and not isinstance(max_iterations, bool)
            and max_iterations > 0):
        raise ValueError(f"`max_iterations` must be a positive int. Received: max_iterations={max_iterations!r}")
    if on_constant_output not in ("raise", "skip"):
        raise ValueError("`on_constant_output` must be 'raise' or 'skip'. "
                         f"Received: on_constant_output={on_constant_output!r}")
    return tol, operator.index(max_iterations)


def _linear_output(layer, inputs):
    """The layer's output before its own activation (Dense(activation="relu") -> W x + b)."""
    activation = getattr(layer, "activation", None)
    if activation is not None:
        layer.activation = keras.activations.linear
    try:
        return keras.ops.convert_to_numpy(layer(inputs, training=False))
    finally:
        if activation is not None:
            layer.activation = activation


def _variance(values):
    return float(np.var(np.asarray(values, dtype=np.float64)))


def lsuv(model, batch, *, tol=0.1, max_iterations=10, seed=None, on_constant_output="raise"):
    """Layer-sequential unit-variance initialization of a built model, in place.

    Mishkin & Matas 2016, Algorithm 1: every kernel is first drawn orthonormal
    (`Orthogonal(gain=1)`, seeds derived from `seed` as in `initialize_weights`;
    biases 0); then for each weight layer in forward order, while the variance of
    the layer's output on `batch` differs from 1 by `tol` or more and fewer than
    `max_iterations` forward passes were made, its kernel is divided by the square
    root of that variance. The output is the layer's own output before its
    activation (for `Dense(activation="relu")`: W x + b); the variance is over every
    element (examples, units, positions). A separable convolution's pointwise
    kernel is the one rescaled.

    With BatchNormalization: the forward passes run in inference mode, where a
    freshly built BatchNormalization is the identity (moving mean 0, variance 1), so
    each weight layer's own output gets unit variance as without it. In training
    mode BatchNormalization divides by the batch's own std anyway, so the scale LSUV
    sets for a layer followed by it hardly matters (as Mishkin & Matas note, LSUV
    adds little on top of BatchNorm); the kernels stay orthonormal in direction.

    Examples:

    >>> model = models.PlainNet(30, 1 / 32, (32, 32, 1), 9)
    >>> print(lsuv(model, images[:64], seed=0))       # one record per kernel

    Any model `initialize_weights` can draw: where the weight layers are not all Dense
    and convolution layers of the model's own graph (nested or subclassed models,
    attention, embeddings, recurrent layers), the kernels are visited in the order the
    model calls them, each layer's input read by one forward pass of the whole model
    (`diagnostics.tracing`); EinsumDense kernels (attention projections) are rescaled
    like Dense ones; embedding tables keep their unit-variance rows and recurrent layers
    their orthonormal kernels (recorded as not rescaled).

    Args:
        model: a built Keras model.
        batch: one minibatch of inputs (numpy array or tensor; for several inputs a
            list in the order of `model.inputs` or a dict by input name); standardize
            the inputs first, as the paper does.
        tol: tolerance on |Var - 1| (the paper: 0.1).
        max_iterations: cap on forward passes per layer (the paper: 10); LSUV never
            loops longer.
        seed: seed of the orthonormal pre-initialization (None: fresh draws,
            reproducible under `keras.utils.set_random_seed`).
        on_constant_output: "raise" (default) or "skip" for a layer whose output is
            constant on the batch (variance ~0, e.g. behind dead ReLUs): never divided
            by zero; "skip" keeps its orthonormal kernel and records the skip.

    Returns:
        `LSUVRecords`: one `LSUVRecord` per kernel, in forward order.

    Raises:
        ValueError: bad arguments; `UnsupportedModelError` for an unsupported model
            (see `initialize_weights`); `InputMismatchError` for a batch that does not
            fit the model's inputs; `LayerOutputError` for a constant output with
            `on_constant_output="raise"`, or a non-finite one. The model is then left
            exactly as it was.
    """
    tol, max_iterations = _check_arguments(tol, max_iterations, on_constant_output)
    seed = validate_seed(seed)
    if not getattr(model, "built", False):
        raise UnsupportedModelError(f"Model '{model.name}' is not built.", f"model={model.name}")
    batch, _ = conform_batch(model, batch)  # a batch that does not fit fails here, in one line
    layers = weight_layers(model)
    top_level = {id(layer) for layer in model.layers}
    graph = is_plain_graph(model) and all(id(layer) in top_level for layer in layers)
    with unchanged_on_error(model):
        if not graph:
            return _lsuv_traced(model, batch, tol, max_iterations, seed, on_constant_output)
        return _lsuv(model, layers, batch, tol, max_iterations, seed, on_constant_output)


def _lsuv(model, layers, batch, tol, max_iterations, seed, on_constant_output):
    initialize_weights(model, Orthogonal(), seed=seed)  # orthonormal, biases 0
    layer_inputs = keras.Model(symbolic_inputs(model), [layer.input for layer in layers])
    records = LSUVRecords()
    for index, layer in enumerate(layers):
        inputs = layer_inputs(batch, training=False)
        inputs = inputs[index] if isinstance(inputs, (list, tuple)) else inputs
        _rescale(layer, inputs, layer_fans(layer), records, tol, max_iterations, on_constant_output)
    return records


def _lsuv_traced(model, batch, tol, max_iterations, seed, on_constant_output):
    """LSUV at the leaf weight layers of any model, in call order."""
    initialize_weights(model, Orthogonal(), seed=seed)  # orthonormal (embeddings N(0, 1)), biases 0
    leaves, _, _ = trace(model, batch)
    records = LSUVRecords()
    for layer in leaves:
        name, variable, fans = measured_weight(layer)
        if not isinstance(layer, RESCALED):
            status = "embedding: unit-variance rows" if name == "embeddings" else "orthonormal only"
            records.append(LSUVRecord(layer.name, name, tuple(variable.shape), *fans, 0, None, None, 1.0,
                                      float(np.std(keras.ops.convert_to_numpy(variable))), status))
            continue
        captured = {}

        def capture(index, output, inputs):
            captured["inputs"] = inputs
            return output

        with intercepted([layer], capture, with_inputs=True):
            model(batch, training=False)
        specs = {spec.name: spec.fans for spec in weight_specs(layer) if spec.role == "kernel"}
        _rescale(layer, captured["inputs"], specs, records, tol, max_iterations, on_constant_output)
    return records


def _rescale(layer, inputs, fans, records, tol, max_iterations, on_constant_output):
    """Algorithm 1's loop for one layer, on its input `inputs`; appends its records."""
    name = "pointwise_kernel" if isinstance(layer, _SEPARABLE) else "kernel"
    kernel = getattr(layer, name)
    if name == "pointwise_kernel":
        depthwise = layer.depthwise_kernel
        records.append(LSUVRecord(layer.name, "depthwise_kernel", tuple(depthwise.shape),
                                  *fans["depthwise_kernel"], 0, None, None, 1.0,
                                  float(np.std(keras.ops.convert_to_numpy(depthwise))),
                                  "orthonormal only"))
    variance = first = _variance(_linear_output(layer, inputs))
    iterations, scale, status = 1, 1.0, "converged"
    if not math.isfinite(variance):
        raise LayerOutputError(f"Layer '{layer.name}' outputs non-finite values on the batch "
                               f"(variance {variance}); check the batch.", layer.name)
    if variance <= CONSTANT_OUTPUT_VARIANCE:
        if on_constant_output == "raise":
            raise LayerOutputError(
                f"Layer '{layer.name}' outputs a constant on the batch (variance {variance}), so "
                "LSUV cannot scale it to unit variance (dead ReLUs upstream, or a constant "
                "batch?). Pass on_constant_output='skip' to keep its orthonormal kernel.", layer.name)
        status = "skipped: constant output"
    else:
        while abs(variance - 1.0) >= tol and iterations < max_iterations:
            factor = 1.0 / math.sqrt(variance)
            kernel.assign(kernel * factor)
            scale *= factor
            variance = _variance(_linear_output(layer, inputs))
            iterations += 1
        if abs(variance - 1.0) >= tol:
            status = "max_iterations"
    records.append(LSUVRecord(layer.name, name, tuple(kernel.shape), *fans[name], iterations,
                              first, variance, scale,
                              float(np.std(keras.ops.convert_to_numpy(kernel))), status))
