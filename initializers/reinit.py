"""Re-initialize every kernel of a built Keras model, with fans from the layers."""

import dataclasses

import keras
import numpy as np
from keras import ops

from initializers._activations import AUTO_ACTIVATIONS, GLOROT_FAMILY, LECUN_FAMILY, RELU_FAMILY
from initializers._base import validate_real, validate_seed
from initializers._fans import WEIGHT_LAYER_TYPES, layer_fans
from initializers._graph import NORMALIZATION_LAYERS, activation_source, is_weight_layer, walk_layers
from initializers._per_layer import fresh_initializer
from initializers._registry import get
from initializers._table import RecordTable
from initializers.errors import UnsupportedModelError
from initializers.variance_scaling import (
    GlorotUniform,
    HeNormal,
    LecunNormal,
    VarianceScalingBase,
)

# Layers whose weights are not kernels and keep their values (scales 1, offsets 0,
# PReLU slopes, a Normalization layer's adapted statistics): re-initializing a kernel
# does not concern them.
LEFT_UNCHANGED = NORMALIZATION_LAYERS + (keras.layers.PReLU, keras.layers.Normalization)


@dataclasses.dataclass(frozen=True)
class LayerInitRecord:
    """What `initialize_weights` did to one kernel.

    `activation` is the nonlinearity the kernel's output meets and `decided_by`
    the layer that applies it (the weight layer itself, or e.g. the ReLU after a
    BatchNormalization); with `method="auto"` it chose the initializer.
    """

    layer: str
    weight: str
    shape: tuple
    fan_in: int
    fan_out: int
    activation: str
    decided_by: str
    method: str
    target_std: float | None
    std: float

    def as_dict(self):
        return dataclasses.asdict(self)


class InitializationRecords(RecordTable):
    """List of `LayerInitRecord` that prints as a table."""

    COLUMNS = ("layer", "weight", "shape", "fan_in", "fan_out", "activation", "decided_by",
               "method", "target_std", "std")


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
    raise UnsupportedModelError(
        f"method='auto' has no rule for activation {activation!r}. Known activations: "
        f"{', '.join(AUTO_ACTIVATIONS)}; pass an explicit method instead.",
        f"activation={activation!r}")


def unsupported_layers(model):
    """Layers with weights that `initialize_weights` can neither draw nor leave alone, as
    "name (Type)" (e.g. an LSTM's or an Embedding's); nested models are looked into."""
    found = []
    for layer in walk_layers(model):
        if layer is model or isinstance(layer, keras.Model) or is_weight_layer(layer):
            continue
        if isinstance(layer, LEFT_UNCHANGED) or not layer.weights:
            continue
        found.append(f"{layer.name} ({type(layer).__name__})")
    return found


def _method_name(initializer):
    # Same naming as `initializers.get`: Keras built-ins carry the "keras." prefix.
    cls = type(initializer)
    return ("keras." if cls.__module__.startswith("keras.") else "") + cls.__name__


def _draw(initializer, variable, fans, layer):
    """(value, target std or None) of a new kernel for `variable`, fans from the layer."""
    shape = tuple(variable.shape)
    try:
        if isinstance(initializer, VarianceScalingBase):
            value = initializer.sample(shape, fans.fan_in, fans.fan_out, dtype=variable.dtype)
            return value, initializer.stddev(fans.fan_in, fans.fan_out)
        return initializer(shape, dtype=variable.dtype), None
    except ValueError as error:  # e.g. DeltaOrthogonal asked for a Dense kernel
        raise UnsupportedModelError(
            f"{_method_name(initializer)} cannot draw the {shape} kernel of layer '{layer.name}' "
            f"({type(layer).__name__}): {error}", f"layer={layer.name}") from None


def _bias_initializer(bias):
    """A constant initializer for a number, else `get(bias)` (a bias distribution)."""
    if isinstance(bias, (str, dict, keras.initializers.Initializer)):
        try:
            return get(bias)
        except ValueError as error:
            raise ValueError(f"`bias` must be a finite number or an initializer identifier ({error}). "
                             f"Received: bias={bias!r}") from None
    return keras.initializers.Constant(validate_real("bias", bias))


def initialize_weights(model, method="he", *, seed=None, bias=0.0, skip_unsupported=False):
    """Re-initializes every kernel of a built Keras model in place, or changes nothing.

    Fans come from each layer (`layer_fans`), not from the kernel shape alone, so
    depthwise, separable, grouped and transposed convolutions get the variance
    their formula asks for (with our initializers; a Keras built-in computes its
    fans from the shape, as it always does). Each kernel gets its own initializer
    instance and seed (`initializers.fresh_initializer`: derived from `seed`, else
    from the method's own seed, else fresh), and every bias is set to `bias`.

    All new values are drawn and every check is made before the first weight is
    assigned: if this function raises (an unsupported weight, an initializer that
    cannot draw a kernel of some layer's shape, a bad argument), the model is
    unchanged.

    Weights of normalization layers and PReLU slopes are left unchanged. Any other
    weight this function does not know how to initialize (e.g. of `Embedding`,
    `LSTM`, `MultiHeadAttention`) raises a ValueError unless `skip_unsupported=True`.

    Examples:

    >>> model = keras.Sequential([keras.Input((784,)),
    ...                           keras.layers.Dense(256, activation="relu"),
    ...                           keras.layers.Dense(10, activation="softmax")])
    >>> print(initialize_weights(model, "auto", seed=0))
    layer    weight  shape       fan_in  fan_out  activation  decided_by  method         ...
    -------  ------  ----------  ------  -------  ----------  ----------  -------------
    dense    kernel  (784, 256)  784     256      relu        dense       HeNormal       ...
    dense_1  kernel  (256, 10)   256     10       softmax     dense_1     GlorotUniform  ...

    Args:
        model: a built Keras model (or layer).
        method: any identifier `initializers.get` accepts (`"he"`,
            `"glorot_uniform"`, `"keras.GlorotUniform"`, an instance, ...), or
            `"auto"` to choose per layer from the nonlinearity its output meets,
            looking through normalization, dropout, pooling and reshapes (see
            `activation_source` and `auto_initializer`).
        seed: None or an int from which the per-kernel seeds are derived (None: a
            seeded `method` instance's own seed is the base; an unseeded one draws
            fresh values, reproducible under `keras.utils.set_random_seed`).
        bias: the finite number every bias is set to (He 2015 and Glorot 2010 both
            use 0), or an initializer identifier to draw the biases from (e.g.
            `{"class_name": "keras.RandomNormal", "config": {"stddev": 0.22}}`, the
            sigma_b of mean-field theory), each bias with its own seed.
        skip_unsupported: leave weights of unsupported layers unchanged instead
            of raising.

    Returns:
        `InitializationRecords`: one `LayerInitRecord` per kernel (layer, weight,
        shape, fan_in, fan_out, activation, decided_by, method, target_std — the
        formula's std where the initializer has one — and std, the drawn kernel's
        std).

    Raises:
        UnsupportedModelError: an unbuilt model, a model without any kernel, an
            initializer that cannot draw some kernel, an activation `"auto"` has no
            rule for, or an unsupported layer with weights (unless `skip_unsupported`).
        UnknownInitializerError: an unknown method (the message lists the valid names).
        ValueError: a bad seed or bias. (All three are ValueErrors;
            `initializers.errors`.)
    """
    seed = validate_seed(seed)
    bias_prototype = _bias_initializer(bias)
    prototype = _checked_prototype(model, method)
    # 1. Draw everything and check everything; the model is not touched yet.
    assignments, records, handled = [], InitializationRecords(), set()
    for layer in walk_layers(model):
        if isinstance(layer, LEFT_UNCHANGED):
            handled.update(id(v) for v in layer.weights)
        elif is_weight_layer(layer):
            layer_assignments = _draw_layer(model, layer, prototype, bias_prototype, seed, records)
            assignments += layer_assignments
            handled.update(id(variable) for variable, _ in layer_assignments)
    _check_everything_handled(model, records, handled, skip_unsupported)
    # 2. Only now change the model.
    for variable, value in assignments:
        variable.assign(value)
    return records


def _checked_prototype(model, method):
    """The initializer `method` names (None for "auto"), once the model is known to be built."""
    if not getattr(model, "built", False):
        raise UnsupportedModelError(
            f"Model '{model.name}' is not built; build it (call it on data or give it an "
            "Input) before re-initializing.", f"model={model.name}")
    if method is None:
        raise ValueError(f"`method` must not be None. Received: method={method!r}")
    return None if method == "auto" else get(method)


def _draw_layer(model, layer, prototype, bias_prototype, seed, records):
    """[(variable, new value)] of one weight layer's kernels and bias; appends one record
    per kernel to `records` (whose length numbers the kernels, for their seeds)."""
    source = activation_source(layer, model)
    layer_prototype = prototype or auto_initializer(source.activation, source.negative_slope)
    slope = source.negative_slope
    assignments = []
    for weight_name, fans in layer_fans(layer).items():
        variable = getattr(layer, weight_name)
        initializer = fresh_initializer(layer_prototype, len(records), seed)
        value, target_std = _draw(initializer, variable, fans, layer)
        assignments.append((variable, value))
        records.append(LayerInitRecord(
            layer=layer.name, weight=weight_name, shape=tuple(variable.shape),
            fan_in=fans.fan_in, fan_out=fans.fan_out,
            activation=source.activation if slope == 0 else f"{source.activation}({slope:g})",
            decided_by=source.output_layer.name, method=_method_name(initializer),
            target_std=target_std, std=float(np.std(ops.convert_to_numpy(value)))))
    if getattr(layer, "bias", None) is not None:
        bias_initializer = fresh_initializer(bias_prototype, len(records) - 1, seed, stream=1)
        assignments.append((layer.bias, bias_initializer(tuple(layer.bias.shape), dtype=layer.bias.dtype)))
    return assignments


def _check_everything_handled(model, records, handled, skip_unsupported):
    if not records:
        raise UnsupportedModelError(
            f"Model '{model.name}' has no kernel to initialize (supported layers: "
            f"{', '.join(c.__name__ for c in WEIGHT_LAYER_TYPES)}).", f"model={model.name}")
    unhandled = [v.path for v in model.weights if id(v) not in handled]
    if unhandled and not skip_unsupported:
        raise UnsupportedModelError(
            "initialize_weights does not know how to initialize these weights: "
            f"{unhandled}. Pass skip_unsupported=True to leave them unchanged (the model "
            "has not been changed).", f"model={model.name}")
