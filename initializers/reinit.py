"""Re-initialize every weight of a built Keras model, with fans from the layers."""

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from initializers._base import validate_real, validate_seed
from initializers._graph import activation_source, reaches_add, walk_layers
from initializers._per_layer import fresh_initializer
from initializers._registry import get
from initializers._table import RecordTable
from initializers._weights import (
    declared_unchanged,
    initialized_layers,
    is_tied_embedding,
    leaves_alone,
    own_weights,
    weight_labels,
    weight_specs,
)
from initializers.auto import auto_initializer, auto_rule
from initializers.errors import UnknownInitializerError, UnsupportedModelError
from initializers.orthogonal import Orthogonal
from initializers.residual import (
    ScalarBias,
    ScalarMultiplier,
    output_weight_layers,
    residual_branches,
    stacked_branch_kernels,
)
from initializers.variance_scaling import HeNormal, VarianceScalingBase

# Embedding tables (a lookup reads one row: fan_in = 1): N(0, 1), so each coordinate of
# the looked-up vector has the unit second moment every fan-in rule assumes of its input
# (what PyTorch's `nn.Embedding` draws). A table that is also the output projection
# (tied, logits = h E^T, Press & Wolf 2017) follows the readout's fan-in rule instead,
# N(0, 1 / d), so the logits of a unit-variance h have unit variance; then every table of
# the model gets that std, since tables are summed (token + position + segment) and a
# table √d times larger would drown the others.
EMBEDDING_STD = 1.0
# Rules that hold whatever `method` is (the method names a rule for kernels).
EMBEDDING_RULE = "embedding: N(0, 1), one row read per token (fan_in = 1)"
TIED_EMBEDDING_RULE = ("N(0, 1/d): the model has an embedding tied to its output (the readout's fan-in "
                       "rule), and every table gets its scale")
RECURRENT_RULE = "orthogonal per gate (Saxe et al. 2014)"
# `initialize_weights(model, FIXUP)`: Zhang, Dauphin & Ma 2019 (`initializers.residual`).
FIXUP = "fixup"


@dataclasses.dataclass(frozen=True)
class LayerInitRecord:
    """What `initialize_weights` did to one weight (not biases).

    `activation` is the nonlinearity the kernel's output meets and `decided_by`
    the layer that applies it (the weight layer itself, or e.g. the ReLU after a
    BatchNormalization); with `method="auto"` it chose the initializer. `rule` says
    which rule decided and why (for "auto", `AutoRule.describe()`: the variance and
    whether the signal keeps its size).
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
    rule: str = ""
    drift_per_layer: float | None = None  # "auto" at an unstable fixed point: `AutoRule.drift_per_layer`

    def as_dict(self):
        return dataclasses.asdict(self)


class InitializationRecords(RecordTable):
    """List of `LayerInitRecord` that prints as a table."""

    COLUMNS = ("layer", "weight", "shape", "fan_in", "fan_out", "activation", "decided_by",
               "method", "target_std", "std", "rule")


def unsupported_layers(model):
    """Layers with weights that `initialize_weights` can neither draw nor leave alone, as
    "name (Type)"; nested models and layers' sublayers are looked into."""
    found = []
    for layer in walk_layers(model):
        if leaves_alone(layer) or weight_specs(layer) is not None or not own_weights(layer):
            continue
        found.append(f"{layer.name} ({type(layer).__name__})")
    return found


def _method_name(initializer):
    # Same naming as `initializers.get`: Keras built-ins carry the "keras." prefix.
    cls = type(initializer)
    return ("keras." if cls.__module__.startswith("keras.") else "") + cls.__name__


def _draw_matrix(initializer, spec, shape, dtype):
    """A draw of a kernel whose rows are not all-but-the-last axis (an EinsumDense kernel
    with contracted axes elsewhere): a (fan_in, fan_out) matrix, put back in the kernel's
    axis order, so an orthogonal draw is orthogonal between the contracted and the other
    axes."""
    others = tuple(i for i in range(len(shape)) if i not in spec.in_axes)
    order = spec.in_axes + others
    matrix = initializer((spec.fans.fan_in, spec.fans.fan_out), dtype=dtype)
    canonical = ops.reshape(matrix, [shape[i] for i in order])
    return ops.transpose(canonical, [int(axis) for axis in np.argsort(order)])


def _draw(initializer, spec, layer):
    """(value, target std or None) of a new weight for `spec`, fans from the layer."""
    variable, fans = spec.variable, spec.fans
    shape = tuple(variable.shape)
    try:
        if isinstance(initializer, VarianceScalingBase):  # i.i.d.: the fans are all it needs
            value = initializer.sample(shape, fans.fan_in, fans.fan_out, dtype=variable.dtype)
            return value, initializer.stddev(fans.fan_in, fans.fan_out)
        if spec.in_axes is not None and spec.in_axes != tuple(range(len(shape) - 1)):
            return _draw_matrix(initializer, spec, shape, variable.dtype), None
        return initializer(shape, dtype=variable.dtype), None
    except ValueError as error:  # e.g. DeltaOrthogonal asked for a Dense kernel
        raise UnsupportedModelError(
            f"{_method_name(initializer)} cannot draw the {shape} {spec.name} of layer '{layer.name}' "
            f"({type(layer).__name__}): {error}", f"layer={layer.name}") from None


def _draw_gates(initializer, spec, layer, index, seed):
    """A kernel made of blocks drawn one by one, each with its own fans: a recurrent cell's
    gates (along the last axis) or a stacked layer's slices (along the first); i.i.d.
    rules draw the whole kernel at once, the same thing."""
    if (spec.gates == 1 and spec.slices == 1) or isinstance(initializer, VarianceScalingBase):
        return _draw(initializer, spec, layer)
    shape = tuple(spec.variable.shape)
    if spec.slices > 1 and hasattr(initializer, "stack"):  # orthogonal families: one batched draw
        return initializer.stack(spec.slices, shape[1:], spec.variable.dtype), None
    count, axis = (spec.gates, -1) if spec.gates > 1 else (spec.slices, 0)
    block = shape[:-1] + (shape[-1] // count,) if axis == -1 else (1,) + shape[1:]
    blocks = []
    for position in range(count):
        block_initializer = fresh_initializer(initializer, index, seed, stream=2 + position)
        block_spec = spec._replace(variable=_Shaped(block if axis == -1 else shape[1:], spec.variable.dtype))
        value = _draw(block_initializer, block_spec, layer)[0]
        blocks.append(value if axis == -1 else ops.expand_dims(value, 0))
    return ops.concatenate(blocks, axis=axis), None


class _Shaped:
    """Stands for a variable of a given shape and dtype (one gate's block)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def resolve_bias_initializer(bias):
    """The initializer of a `bias` argument: a constant for a number, else `get(bias)` (a
    bias distribution), or Keras's own for a Keras name without the "keras." prefix
    ("zeros", a layer's default)."""
    if isinstance(bias, (str, dict, keras.initializers.Initializer)):
        try:
            return get(bias)
        except UnknownInitializerError as error:
            try:
                return keras.initializers.get(bias)
            except ValueError:
                reason = error
        except ValueError as error:
            reason = error
        raise ValueError(f"`bias` must be a finite number or an initializer identifier ({reason}). "
                         f"Received: bias={bias!r}") from None
    return keras.initializers.Constant(validate_real("bias", bias))


def initialize_weights(model, method="he", *, seed=None, bias=0.0, embeddings=None,
                       depth_scaled_residuals=False, skip_unsupported=False):
    """Re-initializes every weight of a built Keras model in place, or changes nothing.

    Works on any model: functional, Sequential, nested and subclassed models, and the
    layers inside layers (a MultiHeadAttention's projections, a KerasHub transformer
    block's): every tracked layer is visited. What each weight gets (`method` names the
    rule for kernels; the rest holds whatever the method):

    * kernels of Dense, Conv*, Conv*Transpose, depthwise and separable convolutions
      and EinsumDense (MultiHeadAttention's projections): `method`, with fans from the
      layer (`layer_fans`; for EinsumDense, fan_in = the product of the contracted
      axes of its equation, fan_out = of the others), so depthwise, grouped and
      transposed convolutions and attention heads get the variance their formula asks
      for (with our initializers; a Keras built-in computes fans from the shape);
    * recurrent cells (SimpleRNN, LSTM, GRU, ConvLSTM): input kernels by `method` gate
      by gate (fans of one gate), recurrent kernels orthogonal gate by gate (Saxe et
      al. 2014), biases `bias` but an LSTM's forget gate 1 where the layer asks for it
      (`unit_forget_bias`, Jozefowicz et al. 2015);
    * embedding tables: N(0, 1) (`EMBEDDING_STD`); in a model with a table tied to the
      output projection (KerasHub's ReversibleEmbedding), every table N(0, 1/d), d the
      tied table's width; or `embeddings` if given;
    * normalization layers, PReLU slopes, LayerScale: unchanged.

    Each weight gets its own initializer instance and seed
    (`initializers.fresh_initializer`: derived from `seed`, else from the method's own
    seed, else fresh). All new values are drawn and every check is made before the
    first weight is assigned: if this function raises, the model is unchanged.

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
            `"auto"` to choose per kernel from the nonlinearity its output meets,
            looking through normalization, dropout, pooling and reshapes
            (`activation_source`), by mean-field theory (`initializers.auto_rule`:
            any elementwise activation, not only named ones); or `"fixup"` (Zhang,
            Dauphin & Ma 2019, Sec. 3) for a residual net without normalization: every
            kernel drawn with `HeNormal` (untruncated, fan_in), then, with L residual
            branches of m weight layers each (`initializers.residual.residual_branches`:
            at the model's `Add` layers, and the slices of a stacked residual layer such
            as `models.ResidualStack`), the branches' other layers scaled by
            L^(-1/(2m-2)), their last layers and the classifier (the weight layers that
            compute the outputs) set to 0, `ScalarMultiplier`s to 1 and `ScalarBias`es
            to 0; raises where the model has no residual branch or a branch cannot be
            told, never falling back to a plain He draw.
        seed: None or an int from which the per-weight seeds are derived (None: a
            seeded `method` instance's own seed is the base; an unseeded one draws
            fresh values, reproducible under `keras.utils.set_random_seed`).
        bias: the finite number every bias is set to (He 2015 and Glorot 2010 both
            use 0), or an initializer identifier to draw the biases from (e.g.
            `{"class_name": "keras.RandomNormal", "config": {"stddev": 0.22}}`, the
            sigma_b of mean-field theory; Keras's own names also without the "keras."
            prefix, e.g. "zeros"), each bias with its own seed.
        embeddings: None (the rule above) or an initializer identifier for every
            embedding table (e.g. `keras.initializers.RandomNormal(stddev=0.02)`,
            GPT-2's and BERT's).
        depth_scaled_residuals: multiply the kernels that end a residual branch by
            1/sqrt(N), N the number of such branches, as GPT-2 does (Radford et al.
            2019, Sec. 2.3). A branch end is a weight layer whose output reaches an
            `Add` in the model's graph (through dropout, normalization, reshapes), the
            output projection of a MultiHeadAttention, and the feedforward output of a
            KerasHub transformer block; raises if there is none.
        skip_unsupported: leave weights of unsupported layers unchanged instead
            of raising.

    Returns:
        `InitializationRecords`: one `LayerInitRecord` per weight but biases (layer,
        weight, shape, fan_in, fan_out, activation, decided_by, method, target_std —
        the formula's std where the initializer has one —, std, the drawn weight's std,
        and rule: what decided).

    Raises:
        UnsupportedModelError: an unbuilt model, a model without any kernel, an
            initializer that cannot draw some kernel, an activation `"auto"` has no
            rule for, or an unsupported layer with weights (unless `skip_unsupported`).
        UnknownInitializerError: an unknown method (the message lists the valid names).
        ValueError: a bad seed or bias. (All three are ValueErrors;
            `initializers.errors`.)
    """
    seed = validate_seed(seed)
    bias_prototype = resolve_bias_initializer(bias)
    embedding_prototype = get(embeddings) if embeddings is not None else None
    fixup = isinstance(method, str) and method.lower() == FIXUP
    if fixup and depth_scaled_residuals:
        raise ValueError("Fixup scales the residual branches itself; depth_scaled_residuals must be False "
                         "with method='fixup'. Received: depth_scaled_residuals=True")
    prototype = _checked_prototype(model, HeNormal() if fixup else method)
    fixup_plan, scalar_values = _fixup_plan(model) if fixup else ({}, [])
    branch_ends = residual_branch_ends(model) if depth_scaled_residuals else {}
    if depth_scaled_residuals and not branch_ends:
        raise UnsupportedModelError(
            "depth_scaled_residuals=True, but no kernel ends a residual branch (a weight layer "
            "feeding an Add, a MultiHeadAttention's output projection, a KerasHub block's "
            "feedforward output).", f"model={model.name}")
    residual_scale = 1.0 / math.sqrt(len(branch_ends)) if branch_ends else 1.0
    layers = initialized_layers(model)
    labels = weight_labels(model, layers)
    tied = [layer for layer in layers if is_tied_embedding(layer)]
    embedding_std = 1.0 / math.sqrt(int(tied[0].output_dim)) if tied else EMBEDDING_STD
    # 1. Draw everything and check everything; the model is not touched yet.
    assignments, records, handled = [], InitializationRecords(), set()
    for layer in walk_layers(model):
        if leaves_alone(layer):
            handled.update(id(v) for v in layer.weights)
        handled.update(id(v) for v in declared_unchanged(layer))
    for layer in layers:
        layer_assignments = _draw_layer(
            model, layer, prototype, bias_prototype, (embedding_prototype, embedding_std, bool(tied)), seed,
            records, residual_scale if id(layer) in branch_ends else None, len(branch_ends), labels[id(layer)],
            fixup_plan)
        assignments += layer_assignments
        handled.update(id(variable) for variable, _ in layer_assignments)
    for variable, value, label, rule in scalar_values:  # Fixup's multipliers and biases
        assignments.append((variable, ops.full(tuple(variable.shape), value, dtype=variable.dtype)))
        if "multiplier" in variable.path.split("/")[-1]:
            records.append(LayerInitRecord(label, variable.path.split("/")[-1], tuple(variable.shape), 1, 1,
                                           "linear", label, "constant", None, 0.0, rule))
    _check_everything_handled(model, records, handled, skip_unsupported)
    # 2. Only now change the model.
    for variable, value in assignments:
        variable.assign(value)
    return records


def _last_kernel(layer):
    """The name of the kernel whose product is the layer's output (a separable
    convolution's pointwise kernel): the one Fixup scales or zeroes."""
    return [spec.name for spec in weight_specs(layer) if spec.role == "kernel"][-1]


def _fixup_plan(model):
    """({(id(layer), kernel name): (factor, rule)}, [(scalar variable, value, label, rule)])
    of Fixup (Zhang et al. 2019, Sec. 3) on `model`; raises where it has no residual branch."""
    branches = residual_branches(model)
    stacked = [layer for layer in initialized_layers(model) if stacked_branch_kernels(layer)]
    count = len(branches) + sum(int(layer.kernel_slices) for layer in stacked)
    if not count:
        raise UnsupportedModelError(
            f"Fixup needs residual branches, and model '{model.name}' has none that can be read: no Add layer "
            "adds a branch of Dense or convolution layers to a skip in a functional graph, and no stacked "
            "residual layer (models.ResidualStack). (A subclassed model's `x + f(x)` cannot be read; build "
            "the blocks functionally.) The model has not been changed.", f"model={model.name}")
    plan = {}

    def plan_branch(kernels, where):  # kernels: [(layer, kernel name)] of one branch, in order
        depth = len(kernels)
        scale = count ** (-1.0 / (2 * depth - 2)) if depth > 1 else None
        for position, key in enumerate(kernels[:-1]):
            plan[key] = (scale, f"Fixup: He x L^(-1/(2m-2)) = {count}^(-1/{2 * depth - 2}) = {scale:.4g}, layer "
                                f"{position + 1} of the m = {depth} of {where} (L = {count} branches)")
        plan[kernels[-1]] = (0.0, f"Fixup: 0, the last layer of {where}")

    for branch in branches:
        plan_branch([(id(layer), _last_kernel(layer)) for layer in branch.layers],
                    f"the branch that ends at '{branch.merge}'")
    for layer in stacked:
        plan_branch([(id(layer), name) for name in stacked_branch_kernels(layer)],
                    f"each of the {layer.kernel_slices} branches of '{layer.name}'")
    for layer in output_weight_layers(model):
        plan[(id(layer), _last_kernel(layer))] = (0.0, "Fixup: 0, the classifier (computes an output)")
    scalars = []
    for layer in walk_layers(model):
        if isinstance(layer, ScalarMultiplier):
            scalars.append((layer.multiplier, 1.0, layer.name, "Fixup: scalar multiplier 1"))
        elif isinstance(layer, ScalarBias):
            scalars.append((layer.offset, 0.0, layer.name, "Fixup: scalar bias 0"))
        for variable, value in getattr(layer, "fixup_scalars", lambda: ())():
            scalars.append((variable, value, layer.name, f"Fixup: scalar {'multipliers 1' if value else 'biases 0'}"))
    return plan, scalars


def residual_branch_ends(model):
    """{id(layer): layer} of the weight layers that end a residual branch (see
    `initialize_weights(depth_scaled_residuals=True)`)."""
    ends = {}
    for layer in walk_layers(model):
        if isinstance(layer, keras.layers.MultiHeadAttention) and hasattr(layer, "_output_dense"):
            ends[id(layer._output_dense)] = layer._output_dense
        feedforward = getattr(layer, "_feedforward_output_dense", None)  # KerasHub blocks
        if isinstance(feedforward, keras.layers.Layer):
            ends[id(feedforward)] = feedforward
    for layer in initialized_layers(model):
        kernels = any(spec.role == "kernel" for spec in weight_specs(layer))  # not an embedding sum
        if kernels and reaches_add(layer, model):
            ends[id(layer)] = layer
    return ends


def _checked_prototype(model, method):
    """The initializer `method` names (None for "auto"), once the model is known to be built."""
    if not getattr(model, "built", False):
        raise UnsupportedModelError(
            f"Model '{model.name}' is not built; build it (call it on data or give it an "
            "Input) before re-initializing.", f"model={model.name}")
    if method is None:
        raise ValueError(f"`method` must not be None. Received: method={method!r}")
    return None if method == "auto" else get(method)


def _kernel_choice(model, layer, prototype):
    """(initializer, activation name, deciding layer name, rule) for a layer's kernels."""
    if hasattr(layer, "recurrent_kernel"):  # a recurrent cell: its own activation (tanh)
        function = layer.activation
        source_name, slope, decided_by = getattr(function, "__name__", "linear"), 0.0, layer.name
        function = None if _is_keras_name(source_name) else function
    else:
        source = activation_source(layer, model)
        function, source_name, slope = source.function, source.activation, source.negative_slope
        decided_by = source.output_layer.name
    shown = source_name if slope == 0 else f"{source_name}({slope:g})"
    if prototype is not None:
        return prototype, shown, decided_by, None
    # A Keras name decides; a function of the user's own is integrated as it is.
    activation = function if function is not None and not _is_keras_name(source_name) else source_name
    rule = auto_rule(activation, slope)
    return auto_initializer(activation, slope), shown, decided_by, rule


def _is_keras_name(name):
    try:
        keras.activations.get(name)
        return True
    except ValueError:
        return False


def _draw_layer(model, layer, prototype, bias_prototype, embedding_choice, seed, records,
                residual_scale, branches, label, fixup_plan=None):
    """[(variable, new value)] of one layer's weights; appends one record per non-bias
    weight to `records` (whose length numbers the weights, for their seeds).
    `embedding_choice`: (the `embeddings` initializer or None, the rule's std, tied)."""
    embedding_prototype, std, tied = embedding_choice
    specs = weight_specs(layer)
    kernel_choice = None
    assignments = []
    for spec in specs:
        if spec.role == "bias":
            continue
        variable, index = spec.variable, len(records)
        activation, decided_by, drift = "linear", layer.name, None
        if spec.role == "embedding":
            base = embedding_prototype or keras.initializers.RandomNormal(stddev=std)
            initializer = fresh_initializer(base, index, seed)
            rule = "embeddings argument" if embedding_prototype else (TIED_EMBEDDING_RULE if tied else EMBEDDING_RULE)
            value = initializer(tuple(variable.shape), dtype=variable.dtype)
            target_std = None if embedding_prototype else std
        elif spec.role == "recurrent_kernel":
            initializer = Orthogonal()
            value, target_std = _draw_gates(fresh_initializer(initializer, index, seed), spec, layer, index, seed)
            rule = RECURRENT_RULE
        else:
            kernel_choice = kernel_choice or _kernel_choice(model, layer, prototype)
            layer_prototype, activation, decided_by, auto = kernel_choice
            rule = auto.describe() if auto is not None else ""
            drift = auto.drift_per_layer if auto is not None and not auto.stable else None
            initializer = fresh_initializer(layer_prototype, index, seed)
            value, target_std = _draw_gates(initializer, spec, layer, index, seed)
            if spec.gates > 1:
                rule = (rule + "; " if rule else "") + f"{spec.gates} gates drawn one by one"
            if residual_scale is not None:
                value = value * residual_scale
                target_std = None if target_std is None else target_std * residual_scale
                rule = (rule + "; " if rule else "") + f"x 1/sqrt({branches}): ends a residual branch (GPT-2)"
            planned = (fixup_plan or {}).get((id(layer), spec.name))
            if planned is not None:  # Fixup: scaled or zero
                factor, rule = planned
                value = value * factor if factor else ops.zeros_like(value)
                target_std = None if target_std is None else target_std * factor
        assignments.append((variable, value))
        records.append(LayerInitRecord(
            layer=label, weight=spec.name, shape=tuple(variable.shape),
            fan_in=spec.fans.fan_in, fan_out=spec.fans.fan_out, activation=activation,
            decided_by=decided_by, method=_method_name(initializer), target_std=target_std,
            std=float(np.std(ops.convert_to_numpy(value))), rule=rule, drift_per_layer=drift))
    for position, bias in enumerate(spec.variable for spec in specs if spec.role == "bias"):
        bias_initializer = fresh_initializer(bias_prototype, len(records) - 1, seed, stream=1 + 10_000 * position)
        value = bias_initializer(tuple(bias.shape), dtype=bias.dtype)
        if getattr(layer, "unit_forget_bias", False) and isinstance(layer, keras.layers.LSTMCell):
            # Keras's convention, kept: the forget gate's bias starts at 1 (Jozefowicz et al. 2015).
            units = layer.units
            value = ops.concatenate([value[:units], ops.ones_like(value[units:2 * units]), value[2 * units:]])
        assignments.append((bias, value))
    return assignments


def _check_everything_handled(model, records, handled, skip_unsupported):
    if not records:
        raise UnsupportedModelError(
            f"Model '{model.name}' has no kernel or table to initialize (supported: Dense, convolutions, "
            "EinsumDense, MultiHeadAttention, Embedding, SimpleRNN/LSTM/GRU/ConvLSTM).", f"model={model.name}")
    unhandled = [v.path for v in model.weights if id(v) not in handled]
    if unhandled and not skip_unsupported:
        raise UnsupportedModelError(
            "initialize_weights does not know how to initialize these weights: "
            f"{unhandled}. Pass skip_unsupported=True to leave them unchanged (the model "
            "has not been changed).", f"model={model.name}")
