"""Re-initialize every kernel of a built Keras model, with fans from the layers."""

import dataclasses
import random

import keras
import numpy as np
from keras import ops

from initializers._base import MAX_SEED, validate_seed
from initializers._fans import SUPPORTED_LAYER_TYPES, layer_fans
from initializers._registry import get
from initializers.variance_scaling import (
    GlorotUniform,
    HeNormal,
    LecunNormal,
    VarianceScalingBase,
)

# method="auto": the activation that follows a layer picks its initializer.
# ReLU-like activations (also GELU, SiLU, ELU, whose positive side is the identity
# and whose negative side is near zero) get He with the rectifier's slope.
RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish")
GLOROT_FAMILY = ("linear", "tanh", "sigmoid", "softsign", "softmax", "hard_sigmoid")
LECUN_FAMILY = ("selu",)
AUTO_ACTIVATIONS = RELU_FAMILY + GLOROT_FAMILY + LECUN_FAMILY

# Keras's own default slope of the `leaky_relu` activation function.
_LEAKY_RELU_FUNCTION_SLOPE = 0.2

# Layers whose weights are not kernels and keep their values (scales 1, offsets 0,
# PReLU slopes): re-initializing a kernel does not concern them.
_LEFT_UNCHANGED = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
    keras.layers.PReLU,
    keras.layers.Normalization,
)


def format_table(columns, rows):
    """Fixed-width text table: a header, a rule, then one line per row. Floats are
    shown with 4 significant digits, None as "-"."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return "-" if value is None else str(value)

    cells = [tuple(columns)] + [tuple(cell(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class LayerInitRecord:
    """What `initialize_weights` did to one kernel."""

    layer: str
    weight: str
    shape: tuple
    fan_in: int
    fan_out: int
    activation: str
    method: str
    target_std: float | None
    std: float

    def as_dict(self):
        return dataclasses.asdict(self)


class InitializationRecords(list):
    """List of `LayerInitRecord` that prints as a table."""

    _COLUMNS = ("layer", "weight", "shape", "fan_in", "fan_out", "activation",
                "method", "target_std", "std")

    def __str__(self):
        return format_table(self._COLUMNS, [[getattr(r, c) for c in self._COLUMNS] for r in self])

    def _repr_pretty_(self, printer, cycle):  # IPython / Jupyter
        printer.text(str(self))


def _activation_name(function):
    # Keras's activations are plain functions named after themselves ("relu",
    # "tanh", "linear", ...); a custom callable is known by its own name.
    return getattr(function, "__name__", type(function).__name__)


def _slope_of(layer):
    if isinstance(layer, keras.layers.PReLU):
        # PReLU's slopes are learned; at (re-)initialization use their current mean.
        return float(np.mean(keras.ops.convert_to_numpy(layer.alpha))) if layer.built else 0.0
    return float(getattr(layer, "negative_slope", 0.0) or 0.0)


def activation_source(layer):
    """(output_layer, name, negative_slope) of the nonlinearity applied to `layer`'s output.

    `output_layer` is the layer whose output is that nonlinearity's output: the
    layer itself if its own `activation` is not linear; else a single consuming
    activation layer (`Activation`, `ReLU`, `LeakyReLU`, `PReLU`, `ELU`,
    `Softmax`); else the layer itself, with `("linear", 0.0)`.
    """
    own = getattr(layer, "activation", None)
    if own is not None and _activation_name(own) != "linear":
        name = _activation_name(own)
        return layer, name, (_LEAKY_RELU_FUNCTION_SLOPE if name == "leaky_relu" else 0.0)
    consumers = [node.operation for node in getattr(layer, "_outbound_nodes", [])]
    if len(consumers) == 1:
        consumer = consumers[0]
        if isinstance(consumer, keras.layers.Activation):
            return activation_source(consumer)
        if isinstance(consumer, (keras.layers.LeakyReLU, keras.layers.PReLU)):
            return consumer, "leaky_relu", _slope_of(consumer)
        if isinstance(consumer, keras.layers.ReLU):
            slope = _slope_of(consumer)
            return (consumer, "leaky_relu", slope) if slope else (consumer, "relu", 0.0)
        if isinstance(consumer, keras.layers.ELU):
            return consumer, "elu", 0.0
        if isinstance(consumer, keras.layers.Softmax):
            return consumer, "softmax", 0.0
    return layer, "linear", 0.0


def activation_after(layer):
    """(name, negative_slope) of the nonlinearity applied to `layer`'s output
    (see `activation_source`)."""
    _, name, slope = activation_source(layer)
    return name, slope


def auto_initializer(activation, negative_slope=0.0):
    """The initializer `method="auto"` picks for a layer followed by `activation`.

    ReLU family -> `HeNormal(negative_slope=a)` (He et al. 2015);
    tanh/sigmoid/softsign/softmax/linear -> `GlorotUniform` (Glorot & Bengio 2010);
    selu -> `LecunNormal` (Klambauer et al. 2017).
    """
    if activation in RELU_FAMILY:
        return HeNormal(negative_slope=negative_slope)
    if activation in GLOROT_FAMILY:
        return GlorotUniform()
    if activation in LECUN_FAMILY:
        return LecunNormal()
    raise ValueError(
        f"method='auto' has no rule for activation {activation!r}. Known activations: "
        f"{', '.join(AUTO_ACTIVATIONS)}; pass an explicit method instead. "
        f"Received: activation={activation!r}"
    )


def _layer_seed(seed, index):
    # Distinct, reproducible seed per kernel: reusing one seed for every layer would
    # give same-shaped layers identical kernels.
    if seed is None:
        return random.randint(0, MAX_SEED)
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0]) % MAX_SEED


def _with_seed(initializer, seed):
    config = initializer.get_config()
    if "seed" not in config:  # deterministic initializers (Zeros, Constant, ...)
        return initializer
    return type(initializer).from_config({**config, "seed": seed})


def _method_name(initializer):
    # Same naming as `initializers.get`: Keras built-ins carry the "keras." prefix.
    cls = type(initializer)
    return ("keras." if cls.__module__.startswith("keras.") else "") + cls.__name__


def _all_layers(model):
    # Nested models and custom layers are walked through as well.
    return [model] + list(model._flatten_layers(include_self=False, recursive=True))


def initialize_weights(model, method="he", *, seed=None, bias=0.0, skip_unsupported=False):
    """Re-initializes every kernel of a built Keras model in place.

    Fans come from each layer (`layer_fans`), not from the kernel shape alone, so
    depthwise, separable, grouped and transposed convolutions get the variance
    their formula asks for (with our initializers; a Keras built-in computes its
    fans from the shape, as it always does). Each kernel gets its own seed derived
    from `seed`, and every bias is set to the constant `bias`.

    Weights of normalization layers and PReLU slopes are left unchanged. Any other
    weight this function does not know how to initialize (e.g. of `Embedding`,
    `LSTM`, `MultiHeadAttention`) raises a ValueError unless `skip_unsupported=True`.

    Examples:

    >>> model = keras.Sequential([keras.Input((784,)),
    ...                           keras.layers.Dense(256, activation="relu"),
    ...                           keras.layers.Dense(10, activation="softmax")])
    >>> print(initialize_weights(model, "auto", seed=0))
    layer    weight  shape       fan_in  fan_out  activation  method         ...
    -------  ------  ----------  ------  -------  ----------  -------------
    dense    kernel  (784, 256)  784     256      relu        HeNormal       ...
    dense_1  kernel  (256, 10)   256     10       softmax     GlorotUniform  ...

    Args:
        model: a built Keras model (or layer).
        method: any identifier `initializers.get` accepts (`"he"`,
            `"glorot_uniform"`, `"keras.GlorotUniform"`, an instance, ...), or
            `"auto"` to choose per layer from the activation that follows it
            (see `auto_initializer`).
        seed: None (fresh draws; reproducible under `keras.utils.set_random_seed`)
            or an int from which the per-kernel seeds are derived.
        bias: value every bias is set to (He 2015 and Glorot 2010 both use 0).
        skip_unsupported: leave weights of unsupported layers unchanged instead
            of raising.

    Returns:
        `InitializationRecords`: one `LayerInitRecord` per kernel (layer, weight,
        shape, fan_in, fan_out, activation, method, target_std — the formula's
        std where the initializer has one — and std, the drawn kernel's std).

    Raises:
        ValueError: unbuilt model, unknown method, a model without any kernel, or
            an unsupported layer with weights (unless `skip_unsupported`).
    """
    validate_seed(seed)
    if not getattr(model, "built", False):
        raise ValueError(
            f"Model '{model.name}' is not built; build it (call it on data or give it an "
            f"Input) before re-initializing. Received: model={model.name}"
        )
    shared_initializer = None if method == "auto" else get(method)
    if shared_initializer is None and method != "auto":
        raise ValueError(f"`method` must not be None. Received: method={method!r}")

    records = InitializationRecords()
    handled = set()
    for layer in _all_layers(model):
        if isinstance(layer, _LEFT_UNCHANGED):
            handled.update(id(v) for v in layer.weights)
            continue
        if not isinstance(layer, SUPPORTED_LAYER_TYPES):
            continue
        activation, slope = activation_after(layer)
        layer_initializer = shared_initializer or auto_initializer(activation, slope)
        for weight_name, fans in layer_fans(layer).items():
            variable = getattr(layer, weight_name)
            initializer = _with_seed(layer_initializer, _layer_seed(seed, len(records)))
            shape = tuple(variable.shape)
            if isinstance(initializer, VarianceScalingBase):
                value = initializer.sample(shape, fans.fan_in, fans.fan_out, dtype=variable.dtype)
                target_std = initializer.stddev(fans.fan_in, fans.fan_out)
            else:
                value = initializer(shape, dtype=variable.dtype)
                target_std = None
            variable.assign(value)
            handled.add(id(variable))
            records.append(
                LayerInitRecord(
                    layer=layer.name,
                    weight=weight_name,
                    shape=shape,
                    fan_in=fans.fan_in,
                    fan_out=fans.fan_out,
                    activation=activation if slope == 0 else f"{activation}({slope:g})",
                    method=_method_name(initializer),
                    target_std=target_std,
                    std=float(np.std(ops.convert_to_numpy(value))),
                )
            )
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(ops.full(tuple(layer.bias.shape), bias, dtype=layer.bias.dtype))
            handled.add(id(layer.bias))

    if not records:
        raise ValueError(
            f"Model '{model.name}' has no kernel to initialize (supported layers: "
            f"{', '.join(c.__name__ for c in SUPPORTED_LAYER_TYPES)}). "
            f"Received: model={model.name}"
        )
    unhandled = [v.path for v in model.weights if id(v) not in handled]
    if unhandled and not skip_unsupported:
        raise ValueError(
            "initialize_weights does not know how to initialize these weights: "
            f"{unhandled}. Pass skip_unsupported=True to leave them unchanged. "
            f"Received: model={model.name}"
        )
    return records
