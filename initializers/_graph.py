"""Which layers carry kernels, in what order, and which nonlinearity follows each.

One rule each, shared by `initialize_weights`, the diagnostics and the model
builders:

* a **weight layer** is a layer with a kernel of known fan layout (`Dense`,
  `Conv1D/2D/3D`, their `Transpose` variants, `DepthwiseConv1D/2D`,
  `SeparableConv1D/2D`); `weight_layers(model)` lists them in forward order,
  nested models included;
* the **nonlinearity after a weight layer** is its own `activation` if that is
  not linear, else the first activation layer reached by following the layer's
  single consumer through layers that do not decide the nonlinearity:
  normalization (BatchNormalization, LayerNormalization, GroupNormalization,
  UnitNormalization), dropout and noise (identity at inference), pooling,
  reshapes, padding, cropping and upsampling (`activation_source`). So the most
  common CNN block, Conv2D -> BatchNormalization -> ReLU, is a ReLU layer, as He
  et al. 2015 (Sec. 2.2) count it: the rectifier the kernel's output meets.
"""

from typing import NamedTuple

import keras
import numpy as np

from initializers._fans import WEIGHT_LAYER_TYPES

# Layers between a kernel and its nonlinearity that leave the choice of
# nonlinearity to what follows them: per-unit rescaling (normalization), identity
# at inference (dropout, noise), pooling (max pooling commutes with a monotonic
# activation), and pure re-arrangements of the units.
NORMALIZATION_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
)
PASS_THROUGH_LAYERS = NORMALIZATION_LAYERS + (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.UpSampling1D,
    keras.layers.UpSampling2D,
    keras.layers.UpSampling3D,
    keras.layers.Identity,
)

# Keras's own default slope of the `leaky_relu` activation function.
LEAKY_RELU_FUNCTION_SLOPE = 0.2


def is_weight_layer(layer):
    """Whether `layer` has a kernel this package initializes (see module docstring)."""
    return isinstance(layer, WEIGHT_LAYER_TYPES)


def _is_graph_model(layer):
    # Functional and Sequential models know their layers in forward order.
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_nodes")
    )


def walk_layers(layer):
    """`layer` and every layer inside it, depth first, in forward order.

    Functional and Sequential models list their layers in topological (forward)
    order and nested models are expanded where they sit; other layers (subclassed
    models, custom layers) contribute the sublayers they track, in tracking order.
    """
    yield layer
    if _is_graph_model(layer):
        children = list(layer.layers)
    else:
        children = list(layer._flatten_layers(include_self=False, recursive=False))
    for child in children:
        yield from walk_layers(child)


def every_layer(model):
    """`walk_layers(model)` with each layer once (a layer tracked in two places, a shared
    layer, is listed where it is first met)."""
    seen, found = set(), []
    for layer in walk_layers(model):
        if id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def source_of(tensor, is_source):
    """The operation that computes a symbolic tensor and for which `is_source(operation)`
    holds, looking back through single-input layers that rescale or re-arrange
    (`PASS_THROUGH_LAYERS`: normalization, dropout, reshapes); None if there is none."""
    history = getattr(tensor, "_keras_history", None)
    while history is not None:
        operation = history.operation
        if is_source(operation):
            return operation
        if not isinstance(operation, PASS_THROUGH_LAYERS):
            return None
        node = operation._inbound_nodes[history.node_index]
        if len(node.input_tensors) != 1:
            return None
        history = getattr(node.input_tensors[0], "_keras_history", None)
    return None


def traces_back_to(tensor, is_source):
    """Whether `source_of(tensor, is_source)` finds an operation."""
    return source_of(tensor, is_source) is not None


def weight_layers(model):
    """The weight layers of a model (or layer), in forward order, nested models included.

    Example:

    >>> [layer.name for layer in weight_layers(models.SimpleMLP(784, 256, 10))]
    ['hidden', 'logits']
    """
    return [layer for layer in walk_layers(model) if is_weight_layer(layer)]


def _node_keys(model):
    """Keys of every call node in the graphs of `model` and of the models nested in it,
    or None when `model` has no graph (a subclassed model)."""
    keys, graphs = set(), [layer for layer in walk_layers(model) if _is_graph_model(layer)]
    for graph in graphs:
        graph = getattr(graph, "_functional", None) or graph  # a Sequential's graph
        keys.update(getattr(graph, "_nodes", ()))
    return keys if graphs else None


def node_key(node):
    """The key under which a functional graph lists a call node (`_node_keys`)."""
    operation = node.operation
    return f"{id(operation)}_ib-{operation._inbound_nodes.index(node)}"


def _consumers(layer, node_keys):
    """Layers that read `layer`'s output in the model's graph.

    A layer shared with another model, or with a copy of the model (the
    diagnostics' tapped copy), has outbound nodes outside this graph; they do not count.
    """
    consumers = []
    for node in getattr(layer, "_outbound_nodes", []):
        if node_keys is None or node_key(node) in node_keys:
            consumers.append(node.operation)
    return consumers


def _activation_name(function):
    # Keras's activations are plain functions named after themselves ("relu",
    # "tanh", "linear", ...); a custom callable is known by its own name.
    return getattr(function, "__name__", type(function).__name__)


def _slope_of(layer):
    if isinstance(layer, keras.layers.PReLU):
        # PReLU's slopes are learned; at (re-)initialization use their current mean.
        return float(np.mean(keras.ops.convert_to_numpy(layer.alpha))) if layer.built else 0.0
    return float(getattr(layer, "negative_slope", 0.0) or 0.0)


class ActivationSource(NamedTuple):
    """The nonlinearity applied to a weight layer's output, and where it is applied.

    `output_layer` is the layer whose output is that nonlinearity's output (the
    weight layer itself, or the activation layer that decided); `activation` its
    name ("linear" when none was found) and `negative_slope` the rectifier's slope.
    """

    output_layer: keras.layers.Layer
    activation: str
    negative_slope: float
    function: object = None  # the activation function itself (None where a layer type decides)


# Layers whose whole job is to apply a nonlinearity to their input.
ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)


def _function_activation(function):
    """(name, slope) of an activation function, or None for the identity."""
    name = _activation_name(function)
    if name == "linear":
        return None
    return name, (LEAKY_RELU_FUNCTION_SLOPE if name == "leaky_relu" else 0.0)


def _applied_by(layer):
    """(name, slope) of the nonlinearity an activation layer applies (None: identity)."""
    if isinstance(layer, (keras.layers.LeakyReLU, keras.layers.PReLU)):
        return "leaky_relu", _slope_of(layer)
    if isinstance(layer, keras.layers.ReLU):
        slope = _slope_of(layer)
        if slope:
            return "leaky_relu", slope
        return ("relu6", 0.0) if getattr(layer, "max_value", None) == 6 else ("relu", 0.0)
    if isinstance(layer, keras.layers.ELU):
        return "elu", 0.0
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", 0.0
    return _function_activation(layer.activation)


def activation_source(layer, model=None):
    """The `ActivationSource` of a weight layer: the nonlinearity its output meets.

    The layer's own `activation` if not linear; else the layer's single consumer,
    followed through `PASS_THROUGH_LAYERS` (BatchNormalization, Dropout, pooling,
    reshapes, ...) and linear activation layers to the first activation layer
    (`Activation`, `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`); else the layer
    itself with `("linear", 0.0)`: its output is the model's output, feeds several
    layers, or reaches a layer that is neither (`Add`, `Concatenate`, another
    weight layer).

    Example:

    >>> x = keras.layers.Conv2D(64, 3, name="conv")(inputs)
    >>> x = keras.layers.BatchNormalization()(x)
    >>> x = keras.layers.ReLU(name="relu")(x)
    >>> activation_source(model.get_layer("conv"))
    ActivationSource(output_layer=<ReLU name=relu, ...>, activation='relu', negative_slope=0.0)

    Args:
        layer: a weight layer of a built model.
        model: the model whose graph to follow (default: every call of `layer`).
            Give it when the layer may also be used in another model.
    """
    own = getattr(layer, "activation", None)
    applied = _function_activation(own) if own is not None else None
    if applied is not None:
        return ActivationSource(layer, *applied, own)
    node_keys = _node_keys(model) if model is not None else None
    current = layer
    while True:
        consumers = _consumers(current, node_keys)
        if len(consumers) != 1:
            break
        current = consumers[0]
        if isinstance(current, ACTIVATION_LAYERS):
            applied = _applied_by(current)
            if applied is not None:
                return ActivationSource(current, *applied, getattr(current, "activation", None))
        elif not isinstance(current, PASS_THROUGH_LAYERS):
            break
    return ActivationSource(layer, "linear", 0.0)


def activation_after(layer, model=None):
    """(name, negative_slope) of the nonlinearity `layer`'s output meets (see
    `activation_source`)."""
    source = activation_source(layer, model)
    return source.activation, source.negative_slope


def reaches_add(layer, model=None):
    """Whether `layer`'s output reaches an `Add` layer (a residual merge) through
    `PASS_THROUGH_LAYERS` alone, in the graph of `model`."""
    node_keys = _node_keys(model) if model is not None else None
    current = layer
    while True:
        consumers = _consumers(current, node_keys)
        if len(consumers) != 1:
            return False
        current = consumers[0]
        if isinstance(current, keras.layers.Add):
            return True
        if not isinstance(current, PASS_THROUGH_LAYERS):
            return False
