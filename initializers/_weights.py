"""Which weights of which layers `initialize_weights` draws, and by which rule.

`weight_specs(layer)` lists the weights a layer owns (not its sublayers') that the
package draws, each with its role and fans:

| layer | weight | role | fans |
|---|---|---|---|
| Dense, Conv*, Conv*Transpose, Depthwise, Separable | kernels | "kernel" | `layer_fans` |
| EinsumDense (also inside MultiHeadAttention) | kernel | "kernel" | fan_in = product of the contracted axes, fan_out = of the others |
| Embedding (KerasHub's ReversibleEmbedding, PositionEmbedding) | table | "embedding" | (1, output_dim): a lookup reads one row |
| a layer with `kernel_slices` (stacked identical kernels) | kernel | "kernel", slice by slice | one slice's |
| SimpleRNN/LSTM/GRU/ConvLSTM cells | kernel | "kernel", per gate | (input_dim x receptive field, units x receptive field) of one gate |
| the same | recurrent_kernel | "recurrent_kernel", orthogonal per gate | (units, units) of one gate |
| any of the above | bias | "bias" | - |

Normalization layers' scales and offsets, PReLU slopes, a Normalization layer's adapted
statistics, the per-channel scales of residual branches (`LayerScale`, ConvNeXt), the
residual scalars of Fixup, SkipInit and ReZero (`ScalarMultiplier`, `ScalarBias`; set by
method "fixup") and what a stacked layer declares (`unchanged_weights`) are left as they
are (`LEFT_UNCHANGED`). Any other weight is unsupported.
"""

import contextlib
import math
from typing import NamedTuple

import keras

from initializers._fans import WEIGHT_LAYER_TYPES, Fans, compute_fans, layer_fans
from initializers._graph import NORMALIZATION_LAYERS, _is_graph_model, every_layer
from initializers.residual import SCALAR_LAYERS

LEFT_UNCHANGED = NORMALIZATION_LAYERS + (keras.layers.PReLU, keras.layers.Normalization)
# Layers (by class name: they live in private modules of Keras and KerasHub) whose weights
# are per-channel scales of a residual branch, set by the architecture (ConvNeXt's
# LayerScale starts them at 1e-6 on purpose: Touvron et al. 2021, "Going deeper with
# Image Transformers", Sec. 3): not kernels, left unchanged.
LEFT_UNCHANGED_NAMES = ("LayerScale",)
RECURRENT_CELLS = (keras.layers.SimpleRNNCell, keras.layers.LSTMCell, keras.layers.GRUCell)
# Gates stacked along the last axis of a cell's kernels (Keras's layout).
_GATES = {"SimpleRNNCell": 1, "LSTMCell": 4, "GRUCell": 3, "ConvLSTMCell": 4}


class WeightSpec(NamedTuple):
    """One weight `initialize_weights` draws.

    `role`: "kernel", "recurrent_kernel", "embedding" or "bias"; `fans` (None for a
    bias); `gates`: the blocks stacked along the last axis, each drawn on its own (a
    recurrent cell's gates); `in_axes`: the kernel axes a matrix-shaped draw
    (orthogonal) treats as rows (None: all but the last, Keras's layout).
    """

    name: str
    variable: object
    role: str
    fans: Fans | None
    gates: int = 1
    in_axes: tuple | None = None
    slices: int = 1  # independent kernels stacked along the first axis, each drawn on its own


def own_weights(layer):
    """The weights `layer` holds itself, not through its sublayers."""
    inner = {id(v) for sub in layer._flatten_layers(include_self=False, recursive=True) for v in sub.weights}
    return [v for v in layer.weights if id(v) not in inner]


def leaves_alone(layer):
    """Whether `initialize_weights` keeps `layer`'s weights as they are (Fixup's method
    sets the residual scalars, `ScalarMultiplier` and `ScalarBias`)."""
    return isinstance(layer, LEFT_UNCHANGED + SCALAR_LAYERS) or type(layer).__name__ in LEFT_UNCHANGED_NAMES


def _short(variable):
    return variable.path.split("/")[-1]


def einsum_axes(layer):
    """(contracted kernel axes, other kernel axes) of an `EinsumDense` layer, from its
    equation: an axis whose letter also indexes the input is summed over (fan-in)."""
    inputs, rest = layer.equation.split(",")
    kernel, _ = rest.split("->")
    inputs, kernel = inputs.replace("...", ""), kernel.replace("...", "")
    contracted = tuple(i for i, letter in enumerate(kernel) if letter in inputs)
    return contracted, tuple(i for i in range(len(kernel)) if i not in contracted)


def _einsum_spec(layer):
    shape = tuple(layer.kernel.shape)
    contracted, others = einsum_axes(layer)
    fans = Fans(math.prod(shape[i] for i in contracted), math.prod(shape[i] for i in others))
    return WeightSpec("kernel", layer.kernel, "kernel", fans, 1, contracted)


def _cell_specs(cell):
    gates = _GATES.get(type(cell).__name__, 1)
    kernel, recurrent = tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
    field = math.prod(kernel[:-2])  # ConvLSTM: the kernel's receptive field; 1 for a vector cell
    units = kernel[-1] // gates
    specs = [WeightSpec("kernel", cell.kernel, "kernel", Fans(field * kernel[-2], field * units), gates),
             WeightSpec("recurrent_kernel", cell.recurrent_kernel, "recurrent_kernel",
                        Fans(math.prod(recurrent[:-1]), field * units), gates)]
    return specs


def weight_specs(layer):
    """The `WeightSpec`s of the weights `layer` owns that the package draws, or None when
    it draws none of the layer's weights (see the module docstring)."""
    if isinstance(layer, WEIGHT_LAYER_TYPES):
        specs = [WeightSpec(name, getattr(layer, name), "kernel", fans) for name, fans in layer_fans(layer).items()]
    elif isinstance(layer, keras.layers.EinsumDense):
        specs = [_einsum_spec(layer)]
    elif isinstance(layer, RECURRENT_CELLS) or type(layer).__name__ == "ConvLSTMCell":
        specs = _cell_specs(layer)
    elif is_stacked(layer):
        specs = [WeightSpec(name, getattr(layer, name), "kernel", compute_fans(tuple(getattr(layer, name).shape)[1:]),
                            slices=int(layer.kernel_slices)) for name in stacked_kernel_names(layer)]
    else:
        tables = [v for v in own_weights(layer) if _short(v) == "embeddings" and len(v.shape) == 2]
        if not tables or not _is_embedding(layer):
            return None
        return [WeightSpec(_short(v), v, "embedding", Fans(1, int(v.shape[-1]))) for v in tables]
    bias = getattr(layer, "bias", None)
    if bias is not None:
        specs.append(WeightSpec("bias", bias, "bias", None))
    return specs


def is_stacked(layer):
    """A layer that declares `kernel_slices`: its kernel stacks that many independent
    kernels of Keras's layout along its first axis (`models.StackedConvolution`, the
    identical layers of a very deep vanilla CNN applied in a loop); or its kernels, named
    by `stacked_kernels` (`models.ResidualStack`: a branch's two convolutions per block)."""
    return bool(getattr(layer, "kernel_slices", 0)) and all(hasattr(layer, n) for n in stacked_kernel_names(layer))


def stacked_kernel_names(layer):
    """The attribute names of a stacked layer's kernels: `stacked_kernels`, else ("kernel",)."""
    return tuple(getattr(layer, "stacked_kernels", None) or ("kernel",))


def declared_unchanged(layer):
    """Weights a layer declares as not drawn by `initialize_weights` (`unchanged_weights`: a
    stacked layer's normalization statistics and scalars), left as they are."""
    return list(getattr(layer, "unchanged_weights", None) or ())


def _is_embedding(layer):
    # Keras's Embedding and its subclasses (KerasHub's ReversibleEmbedding), and lookup
    # tables named so by their class (KerasHub's PositionEmbedding).
    return isinstance(layer, keras.layers.Embedding) or type(layer).__name__.endswith("Embedding")


def is_tied_embedding(layer):
    """An embedding table that is also the output projection (KerasHub's
    `ReversibleEmbedding(tie_weights=True)`: logits = h E^T)."""
    return bool(getattr(layer, "tie_weights", False)) and _is_embedding(layer)


def initialized_layers(model):
    """Every layer of `model` (nested models, subclassed models and layers' sublayers
    included) with weights `initialize_weights` draws, in tracking order, each once."""
    return [layer for layer in every_layer(model) if weight_specs(layer) is not None]


def is_plain_graph(model):
    """Whether `model` is a functional or Sequential model whose weights all sit in Dense
    and convolution layers of its own graph (or in layers left unchanged): the models the
    functional probes and LSUV's graph path read directly."""
    if not _is_graph_model(model) or not getattr(model, "inputs", None):
        return False
    return all(not isinstance(layer, keras.Model)
               and (not layer.weights or isinstance(layer, WEIGHT_LAYER_TYPES) or leaves_alone(layer))
               for layer in model.layers)


def weight_labels(model, layers):
    """{id(layer): how records and reports name it}: its name where no other of `layers`
    has it, else its path in the model ("block0_attention/query", "block1_attention/query":
    the path of its first weight without the weight's name and without the model's own
    name, which a Sequential model puts first)."""
    counts = {}
    for layer in layers:
        counts[layer.name] = counts.get(layer.name, 0) + 1
    labels = {}
    for layer in layers:
        path = layer.weights[0].path if counts[layer.name] > 1 and layer.weights else ""
        label = path.rsplit("/", 1)[0] if "/" in path else layer.name
        labels[id(layer)] = label[len(model.name) + 1:] if label.startswith(model.name + "/") else label
    return labels


def weight_values(model):
    """Every weight of `model` (trainable or not) as numpy arrays, in `model.weights` order."""
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def assign_weights(model, values):
    """Puts `values` (from `weight_values`) back into `model`'s weights."""
    for variable, value in zip(model.weights, values):
        variable.assign(value)


@contextlib.contextmanager
def unchanged_on_error(model):
    """All-or-nothing: on any error inside the block every weight of `model` is put back
    as it was (LSUV, GradInit, MetaInit)."""
    before = weight_values(model)
    try:
        yield
    except BaseException:
        assign_weights(model, before)
        raise
