"""What kind of net the doctor is looking at, and where its residual stream can be read.

Which measurements predict trouble depends on the architecture, so the doctor sorts every
model into one of three families (`architecture`) before it judges:

* **plain**: no normalization layer and no residual stream (He et al.'s and Glorot &
  Bengio's nets). The forward and backward gains from the first to the last hidden
  weight layer decide, as they always have: in a plain stack a per-layer factor
  compounds over depth (He et al. 2015, Sec. 2.2; Glorot & Bengio 2010, Sec. 4.2).
* **residual**: a residual stream, read at its merges (`Add` layers, and `x + y` written
  with Keras ops, when two same-shape tensors meet and not both are embeddings) or, where
  the residual sums sit inside repeated blocks (KerasHub's transformer layers, a user's
  `ResidualBlock`), at the outputs of those blocks. What predicts trouble there is how the
  stream and its gradient change from the first block to the last (Yang & Schoenholz
  2017, "Mean Field Residual Networks"; Zhang et al. 2019, Fixup; De & Smith 2020): a
  residual net whose branches each add a variance comparable to the stream's grows
  exponentially in depth without normalization, while the ratio of two hidden weight
  layers' signals says little, since normalization and the shortcuts reset the scale
  between them.
* **normalized**: normalization layers but no residual stream (VGG with BatchNorm,
  DenseNet's concatenations). A normalization layer makes the scale of the weights before
  it irrelevant to the forward signal, and those weights tune their own step in training
  (Arora, Li & Lyu 2019), so raw gains and gradient ratios across it say little: they are
  reported (with the layers' relative gradients `|dL/dW| / |W|`, the quantity LARS
  equalizes, You et al. 2017), and the doctor judges the layers (dead units, saturation)
  and, given the training's optimizer, the first updates.

In a residual net with normalization, likewise, only the stream's forward growth is judged
(`flags.flags`).

BatchNormalization is measured with the batch's own statistics (`batch_statistics`), as
the first training step sees it: at initialization its moving statistics make it the
identity in inference mode, which would hide exactly what it does in training.
"""

import contextlib
import dataclasses

import keras

from initializers._graph import NORMALIZATION_LAYERS, every_layer, traces_back_to, walk_layers
from initializers._weights import LEFT_UNCHANGED_NAMES, weight_specs

FAMILIES = ("plain", "residual", "normalized")
# Containers that repeat without being residual blocks (attention's projections, recurrent
# wrappers, nested models) or that are a single scaling (LayerScale).
_NOT_BLOCKS = (keras.layers.MultiHeadAttention, keras.layers.RNN, keras.layers.Bidirectional,
               keras.layers.TimeDistributed, keras.Model) + NORMALIZATION_LAYERS
# How many times a container class must repeat to be read as the net's blocks.
MIN_BLOCKS = 2


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The family of a model and where its residual stream is read.

    `stream` holds the layers (or Keras operations) whose outputs are the stream, in graph
    order (the doctor reads them in call order); `stream_kind` is "blocks" or "merges"
    (None without a stream); `normalization` the normalization classes present.
    """

    family: str
    stream: tuple
    stream_kind: str | None
    normalization: tuple

    def describe(self):
        """One sentence for the report."""
        if self.family == "plain":
            return ("a plain stack (no normalization, no residual stream): judged by the forward and "
                    "backward gains from the first to the last hidden weight layer")
        if self.family == "residual":
            where = ("the outputs of its repeated blocks" if self.stream_kind == "blocks"
                     else "its residual merges")
            if self.normalization:
                return (f"a residual net with {', '.join(self.normalization)}, its stream read at {where} "
                        f"({len(self.stream)}): judged by how the stream grows from the first point to the "
                        "last; its gradient's growth and the layers' relative gradients are reported, not "
                        "judged (weights followed by normalization tune their own step)")
            return (f"a residual net without normalization, its stream read at {where} ({len(self.stream)}): "
                    "judged by how the stream and its gradient change from the first point to the last, "
                    "and by the layers' relative gradients")
        return (f"a normalized net without a residual stream ({', '.join(self.normalization)}): its gains "
                "and relative gradients are reported, not judged (normalization resets the forward scale, and "
                "weights followed by it tune their own step); its layers and first updates are judged")


def architecture(model):
    """The `Architecture` of a built model (see the module docstring)."""
    layers = every_layer(model)
    normalization = tuple(sorted({type(layer).__name__ for layer in layers
                                  if isinstance(layer, NORMALIZATION_LAYERS)}))
    blocks = repeated_blocks(model, layers)
    merges = [] if blocks else residual_merges(model)
    stream = tuple(blocks or merges)
    if stream:
        return Architecture("residual", stream, "blocks" if blocks else "merges", normalization)
    return Architecture("normalized" if normalization else "plain", (), None, normalization)


def repeated_blocks(model, layers=None):
    """The containers that make up the net's repeated blocks: layers holding weight-carrying
    sublayers (not leaves themselves), of one class met `MIN_BLOCKS` times or more, e.g.
    KerasHub's `TransformerEncoder`s. The most numerous such class wins; [] if none."""
    from initializers.diagnostics.tracing import leaf_layers

    layers = every_layer(model) if layers is None else layers
    leaves = {id(layer) for layer in leaf_layers(model)}
    by_class = {}
    for layer in layers:
        if (layer is model or id(layer) in leaves or isinstance(layer, _NOT_BLOCKS) or not layer.weights
                or type(layer).__name__ in LEFT_UNCHANGED_NAMES or weight_specs(layer)
                or not layer._flatten_layers(include_self=False, recursive=False)):
            continue
        by_class.setdefault(type(layer), []).append(layer)
    candidates = [group for group in by_class.values() if len(group) >= MIN_BLOCKS]
    return max(candidates, key=len) if candidates else []


def _graph_operations(model):
    """Every operation of the functional graphs in `model` (nested ones too), in graph order:
    layers and the Keras ops a model applies to symbolic tensors (`x + y`)."""
    found, seen = [], set()
    for layer in walk_layers(model):
        for operation in getattr(layer, "operations", ()) if hasattr(layer, "_nodes") else ():
            if id(operation) not in seen:
                seen.add(id(operation))
                found.append(operation)
    return found


def _is_add(operation):
    return isinstance(operation, keras.layers.Add) or (
        type(operation).__name__ == "Add" and type(operation).__module__.startswith("keras.src.ops"))


def _from_embedding(tensor):
    """Whether a symbolic tensor is an embedding lookup's output, looking back through
    layers that rescale or re-arrange."""
    return traces_back_to(tensor, _is_embedding)


def _is_embedding(operation):
    specs = weight_specs(operation) if isinstance(operation, keras.layers.Layer) else None
    return bool(specs) and any(spec.role == "embedding" for spec in specs)


def residual_merges(model):
    """The residual merges of a functional model: `Add` layers and `+` ops with two inputs of
    one shape, not both embeddings (token plus position embeddings is no residual)."""
    merges = []
    for operation in _graph_operations(model):
        if not _is_add(operation) or not operation._inbound_nodes:
            continue
        inputs = operation._inbound_nodes[0].input_tensors
        if (len(inputs) == 2 and tuple(inputs[0].shape) == tuple(inputs[1].shape)
                and not all(_from_embedding(tensor) for tensor in inputs)):
            merges.append(operation)
    return merges


def _force_training(layer, original):
    def call(*args, **kwargs):
        kwargs["training"] = True
        return original(*args, **kwargs)
    return call


@contextlib.contextmanager
def batch_statistics(model):
    """Within the block, every BatchNormalization of `model` normalizes with the batch's own
    statistics (as in training), whatever `training` its caller passes; other layers (dropout)
    are untouched. The moving statistics that training mode updates meanwhile are restored
    on exit."""
    norms = [layer for layer in every_layer(model) if isinstance(layer, keras.layers.BatchNormalization)]
    moving = [(variable, keras.ops.convert_to_numpy(variable)) for layer in norms
              for variable in layer.non_trainable_weights]
    patched = []
    try:
        for layer in norms:
            patched.append((layer, layer.__dict__.get("call")))
            object.__setattr__(layer, "call", _force_training(layer, layer.call))
        yield norms
    finally:
        for layer, own in patched:
            if own is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", own)
        for variable, value in moving:
            variable.assign(value)


__all__ = ["Architecture", "FAMILIES", "architecture", "batch_statistics", "repeated_blocks", "residual_merges"]
