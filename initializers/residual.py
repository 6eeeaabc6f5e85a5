"""Residual nets without normalization: the scalar layers of Fixup, SkipInit and ReZero, and
where Fixup finds a model's residual branches.

* Zhang, Dauphin & Ma, ICLR 2019, "Fixup Initialization: Residual Learning Without
  Normalization" (Sec. 3): with L residual branches of m weight layers each, (1) the
  classifier and the last layer of every branch start at 0; (2) every other branch layer
  is drawn with a standard rule (He et al. 2015) and scaled by L^(-1/(2m-2)); (3) a scalar
  multiplier (1 at init) per branch and scalar biases (0 at init) before each convolution,
  linear layer and activation. `initialize_weights(model, "fixup")` does (1) and (2) on any
  functional model (and on stacked residual layers, `models.ResidualStack`); the layers
  below are the scalars of (3), which a user puts in their own blocks.
* De & Smith, NeurIPS 2020 (SkipInit): a learnable scalar at the end of every branch,
  initialized at 0 or small (at most 1/sqrt(d), d the number of blocks): what BatchNorm
  does to a residual branch at initialization, without normalization.
* Bachlechner et al. 2020 (ReZero): x + alpha F(x), alpha = 0 at initialization.

Both are `ScalarMultiplier(initial=...)` at the end of the branch.

How branches are found (`residual_branches`): at every `Add` layer of two inputs in a
functional graph (the model's or a nested functional model's), each input is followed back
through single-input layers until a tensor that is read by more than one layer (the block's
input, where the skip and the branch part) or a layer with several inputs; the weight
layers met on the way are that input's path. The input with more weight layers is the
branch (an identity skip has none; a projection shortcut, one convolution, fewer than its
branch); an `Add` none of whose inputs passes a weight layer (embeddings summed) is not a
residual merge.
"""

from typing import NamedTuple

import keras
from keras import ops

from initializers._graph import _is_graph_model, _node_keys, is_weight_layer, node_key, source_of, walk_layers
from initializers.errors import UnsupportedModelError


@keras.saving.register_keras_serializable(package="initializers")
class ScalarMultiplier(keras.layers.Layer):
    """y = a * x with one learnable scalar a: Fixup's branch multiplier (a = 1 at init,
    Zhang et al. 2019, Sec. 3), SkipInit's (a = 0 or small, De & Smith 2020) and ReZero's
    (a = 0, Bachlechner et al. 2020) at the end of a residual branch.

    `initialize_weights` leaves it as it is, except with method "fixup", which sets it to 1.

    Example:

    >>> branch = keras.layers.Dense(64)(keras.layers.Dense(64, activation="relu")(x))
    >>> x = keras.layers.Add()([x, ScalarMultiplier(initial=0.0)(branch)])   # ReZero

    Args:
        initial: the value of a at initialization.
    """

    def __init__(self, initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = float(initial)

    def build(self, input_shape):
        self.multiplier = self.add_weight(shape=(), name="multiplier",
                                          initializer=keras.initializers.Constant(self.initial))

    def call(self, inputs):
        return inputs * ops.cast(self.multiplier, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


@keras.saving.register_keras_serializable(package="initializers")
class ScalarBias(keras.layers.Layer):
    """y = x + b with one learnable scalar b: Fixup's scalar biases before each
    convolution, linear layer and activation (b = 0 at init, Zhang et al. 2019, Sec. 3).

    `initialize_weights` leaves it as it is, except with method "fixup", which sets it to 0.

    Args:
        initial: the value of b at initialization.
    """

    def __init__(self, initial=0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = float(initial)

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(), name="offset", initializer=keras.initializers.Constant(self.initial))

    def call(self, inputs):
        return inputs + ops.cast(self.offset, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


SCALAR_LAYERS = (ScalarMultiplier, ScalarBias)


class ResidualBranch(NamedTuple):
    """One residual branch: the `Add` it ends at and its weight layers in forward order."""

    merge: str
    layers: tuple


def _history(tensor):
    return getattr(tensor, "_keras_history", None)


def _readers(tensor, node_keys):
    """How many calls in the graph read `tensor`."""
    history = _history(tensor)
    if history is None:
        return 0
    count = 0
    for node in getattr(history.operation, "_outbound_nodes", []):
        if node_keys is None or node_key(node) in node_keys:
            count += sum(1 for t in node.input_tensors if t is tensor)
    return count


def _path(tensor, node_keys, merge):
    """The weight layers between `tensor` and the point where its block forked, in forward
    order (see the module docstring)."""
    found = []
    while _readers(tensor, node_keys) <= 1:
        history = _history(tensor)
        if history is None:
            break
        operation = history.operation
        node = operation._inbound_nodes[history.node_index]
        if len(node.input_tensors) != 1:
            break
        if is_weight_layer(operation):
            found.append(operation)
        elif _is_lookup(operation):
            break  # an embedding table starts a stream (token + position embeddings summed)
        elif operation.weights and not isinstance(operation, SCALAR_LAYERS) and not _has_no_kernels(operation):
            raise UnsupportedModelError(
                f"Fixup cannot tell the layers of the residual branch that ends at '{merge}': it passes "
                f"'{operation.name}' ({type(operation).__name__}), which holds weights but is not a Dense or "
                "convolution layer. Write the branch's layers into the functional graph.", f"layer={operation.name}")
        tensor = node.input_tensors[0]
    return tuple(reversed(found))


def _is_lookup(layer):
    from initializers._weights import weight_specs

    specs = weight_specs(layer)
    return bool(specs) and all(spec.role == "embedding" for spec in specs)


def _has_no_kernels(layer):
    from initializers._weights import leaves_alone  # normalization in a branch: left as it is

    return leaves_alone(layer)


def residual_branches(model):
    """The `ResidualBranch`es of every functional graph in `model`, in graph order.

    Raises:
        UnsupportedModelError: an `Add` of more than two inputs whose inputs pass weight
            layers, or of two inputs that pass as many weight layers each (which one is the
            branch cannot be told), or a branch through a layer with weights that is not a
            weight layer (a custom layer or a nested model).
    """
    branches, seen = [], set()
    for graph in walk_layers(model):
        if not _is_graph_model(graph) or id(graph) in seen:
            continue
        seen.add(id(graph))
        node_keys = _node_keys(graph)
        for layer in graph.layers:
            if not isinstance(layer, keras.layers.Add):
                continue
            for node in layer._inbound_nodes:
                if node_keys is not None and node_key(node) not in node_keys:
                    continue
                paths = [_path(tensor, node_keys, layer.name) for tensor in node.input_tensors]
                counts = sorted(len(p) for p in paths)
                if counts[-1] == 0:
                    continue  # no weight layer on any input: not a residual merge
                if len(paths) != 2 or counts[0] == counts[1]:
                    raise UnsupportedModelError(
                        f"Fixup cannot tell which input of '{layer.name}' is the residual branch: its inputs "
                        f"pass {[len(p) for p in paths]} weight layers (a residual merge adds a branch to a "
                        "skip with fewer, e.g. none).", f"layer={layer.name}")
                branches.append(ResidualBranch(layer.name, max(paths, key=len)))
    return branches


def output_weight_layers(model):
    """The weight layers that compute the model's outputs (through pass-through layers):
    the classifier that Fixup starts at 0."""
    found = [source_of(output, is_weight_layer) for output in getattr(model, "outputs", None) or []]
    return [layer for layer in found if layer is not None]


def stacked_branch_kernels(layer):
    """The kernel names of a stacked residual layer whose slices i form branch i, in forward
    order (`models.ResidualStack`: ("kernel_in", "kernel_out")), or ()."""
    return tuple(getattr(layer, "residual_branch_kernels", ()) or ())


__all__ = ["ResidualBranch", "SCALAR_LAYERS", "ScalarBias", "ScalarMultiplier", "output_weight_layers",
           "residual_branches", "stacked_branch_kernels"]
