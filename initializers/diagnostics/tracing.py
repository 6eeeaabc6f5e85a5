"""Signals and gradients of any Keras model, read at its leaf weight layers as they are called.

The functional probes (`probing.probes`) read tensors of a model's own graph, so they
need a functional or Sequential model whose weight layers sit in that graph. Models
people build today are not all like that: nested models (ConvNeXt's stages, KerasHub
backbones), subclassed models, layers inside layers (a MultiHeadAttention's
projections, a transformer block's feedforward), recurrent layers. This module works
on any of them: for the duration of one forward pass it wraps the `call` of every
**leaf weight layer** (`leaf_layers`) so that its output is recorded and, for the
gradients, a zero "tap" tensor is added to it. The backend then differentiates the
loss with respect to the taps (d loss / d output of each leaf, per example) and the
leaves' kernels in one backward pass.

Leaves are measured at their own output (after their own activation, if any), in the
order they are first called. A layer called several times (a shared layer) is measured
at its first call. Recurrent layers are leaves as a whole (their cells run inside the
backend's loop, where a tap cannot be added).
"""

import contextlib
import importlib

import keras
import numpy as np

from initializers._fans import WEIGHT_LAYER_TYPES
from initializers._graph import every_layer, traces_back_to, walk_layers
from initializers._weights import RECURRENT_CELLS, is_stacked, weight_specs
from initializers.diagnostics.probing import at_least_float32


def _is_leaf_type(layer):
    if isinstance(layer, WEIGHT_LAYER_TYPES + (keras.layers.EinsumDense,)) or is_stacked(layer):
        return True
    if isinstance(layer, keras.layers.RNN) and (isinstance(layer.cell, RECURRENT_CELLS)
                                                or type(layer.cell).__name__ == "ConvLSTMCell"):
        return True
    specs = weight_specs(layer)
    return specs is not None and any(spec.role == "embedding" for spec in specs)


def leaf_layers(model):
    """Every leaf weight layer of `model` (see the module docstring), in tracking order,
    each once; layers inside a recurrent layer are not leaves (the recurrent layer is)."""
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if layer is not model and _is_leaf_type(layer):
            found.append(layer)
            return
        for child in layer._flatten_layers(include_self=False, recursive=False):
            visit(child)

    for layer in walk_layers(model):
        visit(layer)
    return found


def measured_weight(layer):
    """(name, variable, fans) of the weight that sets a leaf's scale: its kernel (a
    separable convolution's pointwise kernel, a recurrent layer's input kernel), or an
    embedding's table."""
    owner = layer.cell if isinstance(layer, keras.layers.RNN) else layer
    specs = [spec for spec in weight_specs(owner) if spec.role in ("kernel", "embedding")]
    spec = next((s for s in specs if s.name == "pointwise_kernel"), specs[0])
    return spec.name, spec.variable, spec.fans


def _first_tensor(outputs):
    """The output a leaf is measured at: its output, or the first of several (an RNN's
    sequence and states)."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


@contextlib.contextmanager
def intercepted(layers, on_output, with_inputs=False):
    """Within the block, `on_output(index, output) -> output` sees (and may replace) the
    output of the first call of `layers[index]` (`on_output(index, output, inputs)` with
    `with_inputs`: the call's first argument too); other calls pass through."""
    called = set()

    def wrap(index, layer, original):
        def call(*args, **kwargs):
            outputs = original(*args, **kwargs)
            if index in called:
                return outputs
            called.add(index)
            extra = (args[0] if args else None,) if with_inputs else ()
            first = on_output(index, _first_tensor(outputs), *extra)
            if isinstance(outputs, (list, tuple)):
                return type(outputs)([first, *outputs[1:]])
            return first
        return call

    patched = []
    try:
        for index, layer in enumerate(layers):
            patched.append((layer, layer.__dict__.get("call")))
            object.__setattr__(layer, "call", wrap(index, layer, layer.call))
        yield called
    finally:
        for layer, own in patched:
            if own is None:
                object.__delattr__(layer, "call")  # the class's own `call` again
            else:
                object.__setattr__(layer, "call", own)


def trace(model, inputs, layers=None):
    """One forward pass of `model` on `inputs` (inference mode).

    Returns:
        `(layers, outputs, model_outputs)`: the leaves that were called, in the order of
        their first call; each one's output there (numpy, float32 or wider); the model's
        outputs (numpy, nested as the model returns them).
    """
    layers = leaf_layers(model) if layers is None else layers
    recorded = {}

    def record(index, output):
        recorded[index] = (len(recorded), at_least_float32(keras.ops.convert_to_numpy(output)))
        return output

    with intercepted(layers, record):
        model_outputs = model(inputs, training=False)
    order = sorted(recorded, key=lambda index: recorded[index][0])
    numpy_outputs = keras.tree.map_structure(lambda t: at_least_float32(keras.ops.convert_to_numpy(t)),
                                             model_outputs)
    return [layers[i] for i in order], [recorded[i][1] for i in order], numpy_outputs


def traced_gradients(model, inputs, layers, shapes, loss_of_outputs, weights):
    """d loss / d (first-call output of each of `layers`), per example, and d loss / d each
    of `weights`, by the backend's autodiff; `shapes` are the outputs' shapes (`trace`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")
        taps = [tf.zeros(shape) for shape in shapes]
        with tf.GradientTape() as tape:
            tape.watch(taps)
            with intercepted(layers, lambda i, out: out + tf.cast(taps[i], out.dtype)):
                loss = loss_of_outputs(model(inputs, training=False))
        gradients = tape.gradient(loss, taps + [w.value for w in weights],
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return _split(gradients, len(taps))
    if backend == "jax":
        jax = importlib.import_module("jax")
        trainable = list(model.trainable_variables)
        non_trainable = [v.value for v in model.non_trainable_variables]
        position = {id(v): i for i, v in enumerate(trainable)}

        def loss_of(tap_values, values):
            with intercepted(layers, lambda i, out: out + tap_values[i].astype(out.dtype)):
                outputs, _ = model.stateless_call(values, non_trainable, inputs, training=False)
            return loss_of_outputs(outputs)

        taps = [jax.numpy.zeros(shape) for shape in shapes]
        tap_gradients, value_gradients = jax.grad(loss_of, argnums=(0, 1))(taps, [v.value for v in trainable])
        return ([np.asarray(g) for g in tap_gradients],
                [np.asarray(value_gradients[position[id(w)]]) for w in weights])
    if backend == "torch":  # not in CI (torch is not installed there)
        torch = importlib.import_module("torch")
        taps = [torch.zeros(shape, requires_grad=True) for shape in shapes]
        for weight in weights:
            weight.value.grad = None
        with intercepted(layers, lambda i, out: out + taps[i].to(out.dtype)):
            loss_of_outputs(model(inputs, training=False)).backward()
        return ([t.grad.detach().cpu().numpy() for t in taps],
                [w.value.grad.detach().cpu().numpy() for w in weights])
    raise ValueError("Autodiff gradients need the tensorflow, jax or torch backend. "
                     f"Received: backend={backend!r}")


def _split(gradients, count):
    values = [keras.ops.convert_to_numpy(g) for g in gradients]
    return values[:count], values[count:]


# --------------------------------------------------------------------------- residual merges


def _rms(values):
    flat = np.asarray(keras.ops.convert_to_numpy(values), dtype=np.float64).ravel()
    return float(np.sqrt(np.dot(flat, flat) / max(flat.size, 1)))


def _ends_in_weights(tensor):
    """Whether a tensor is computed by a weight layer, looking back through layers that
    rescale or re-arrange (normalization, dropout, reshapes): a residual branch."""
    return traces_back_to(tensor, _is_branch_weight_layer)


def _is_branch_weight_layer(operation):
    return isinstance(operation, keras.layers.MultiHeadAttention) or (
        _is_leaf_type(operation) and not hasattr(operation, "input_dim"))  # not an embedding


def _branch_index(add):
    """Which input of a two-input `Add` is the residual branch: the one computed by weight
    layers when the graph says so for exactly one of them, else the last (Keras's and
    most code's order, `Add()([shortcut, branch])`)."""
    try:
        tensors = add._inbound_nodes[0].input_tensors
        branches = [i for i, tensor in enumerate(tensors) if _ends_in_weights(tensor)]
    except (AttributeError, IndexError):
        branches = []
    return (branches[0], "graph") if len(branches) == 1 else (1, "order")


def merge_scales(model, inputs):
    """At every two-input `Add` of the model (nested models and layers included), the RMS
    of the residual branch and of its shortcut, and their ratio: what Fixup (Zhang et al.
    2019) and SkipInit (De & Smith 2020) set at initialization, the branch's share of
    the sum (small: the block starts near the identity).

    Returns:
        A list of dicts `{"merge", "branch_rms", "shortcut_rms", "ratio", "branch_from"}`
        in call order ("branch_from": "graph" when the graph showed which input is the
        branch, "order" when the last input was taken).
    """
    adds = [layer for layer in every_layer(model) if isinstance(layer, keras.layers.Add)]
    found = {}

    def record(index, output, inputs_of_call):
        if isinstance(inputs_of_call, (list, tuple)) and len(inputs_of_call) == 2:
            branch, source = _branch_index(adds[index])
            found[index] = (len(found), adds[index].name, _rms(inputs_of_call[branch]),
                            _rms(inputs_of_call[1 - branch]), source)
        return output

    with intercepted(adds, record, with_inputs=True):
        model(inputs, training=False)
    rows = []
    for _, name, branch, shortcut, source in sorted(found.values()):
        rows.append({"merge": name, "branch_rms": branch, "shortcut_rms": shortcut,
                     "ratio": branch / shortcut if shortcut > 0 else float("inf"), "branch_from": source})
    return rows


# --------------------------------------------------------------------------- losses


def output_surrogates(model_outputs):
    """(loss description, per-output kinds) of the stated surrogate loss for outputs whose
    model has no compiled loss: per output, "cross_entropy" for `(batch, classes)`,
    "per_position_cross_entropy" for `(batch, ..., classes)` (a sequence or a
    segmentation), "squared_output" for one unit per example or position (a regressor),
    never a one-class cross-entropy."""
    kinds = []
    for output in keras.tree.flatten(model_outputs):
        shape = np.shape(output)
        if len(shape) < 2 or shape[-1] == 1:
            kinds.append("squared_output")
        elif len(shape) == 2:
            kinds.append("cross_entropy")
        else:
            kinds.append("per_position_cross_entropy")
    return kinds


SURROGATE_TEXT = {
    "cross_entropy": "softmax cross-entropy with random labels",
    "per_position_cross_entropy": "softmax cross-entropy at every position with random labels",
    "squared_output": "0.5 * sum of squared outputs (d loss / d output = output)",
}


def _is_probabilities(values):
    values = np.asarray(values, dtype=np.float64)
    return bool(values.min() >= 0 and np.allclose(values.sum(axis=-1), 1.0, atol=1e-4))


def surrogate_loss(model_outputs, seed, labels=None):
    """(`outputs -> summed loss`, description): the sum over the model's outputs of each
    one's surrogate (`output_surrogates`); labels drawn with `seed` (or `labels` for a
    single classification output); probabilities (non-negative, summing to 1) are taken
    as such, anything else as logits."""
    flat = keras.tree.flatten(model_outputs)
    kinds = output_surrogates(model_outputs)
    rng = np.random.default_rng(seed)
    terms, texts = [], []
    for output, kind in zip(flat, kinds):
        texts.append(SURROGATE_TEXT[kind])
        if kind == "squared_output":
            terms.append(None)
            continue
        classes = np.shape(output)[-1]
        if labels is not None and len(flat) == 1 and kind == "cross_entropy":
            target = np.asarray(labels).astype(np.int64).reshape(np.shape(output)[:-1])
        else:
            target = rng.integers(0, classes, np.shape(output)[:-1])
        terms.append((keras.losses.SparseCategoricalCrossentropy(
            from_logits=not _is_probabilities(output), reduction="sum"), target))

    def loss(outputs):
        total = 0.0
        for output, term in zip(keras.tree.flatten(outputs), terms):
            if term is None:
                total = total + 0.5 * keras.ops.sum(keras.ops.square(keras.ops.cast(output, "float32")))
            else:
                loss_fn, target = term
                total = total + loss_fn(target, keras.ops.cast(output, "float32"))
        return total

    return loss, "; ".join(sorted(set(texts)))


def compiled_loss(model, model_outputs, seed):
    """(`outputs -> summed loss`, description) of the model's compiled loss (a single
    loss on a single output), targets drawn with `seed` in the form the loss reads, or
    None when the model has none (or one this cannot draw targets for)."""
    loss = getattr(model, "loss", None)
    flat = keras.tree.flatten(model_outputs)
    if loss is None or len(flat) != 1 or isinstance(loss, (list, dict)):
        return None
    try:
        loss_fn = keras.losses.get(loss)
    except (ValueError, TypeError):
        return None
    name = getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", str(loss))
    shape, rng = np.shape(flat[0]), np.random.default_rng(seed)
    if "sparse" in name:
        target = rng.integers(0, shape[-1], shape[:-1])
    elif "categorical" in name:
        target = np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], shape[:-1])]
    elif "binary" in name:
        target = rng.integers(0, 2, shape).astype("float32")
    else:
        target = rng.standard_normal(shape).astype("float32")
    n = shape[0] if shape else 1

    def summed(outputs):  # a Keras loss averages over the batch; the taps want the sum
        return loss_fn(target, keras.ops.cast(keras.tree.flatten(outputs)[0], "float32")) * n

    return summed, f"the model's compiled loss ({name}) with random targets"


# --------------------------------------------------------------------------- inputs


def random_inputs(model, batch_size=8, seed=0, sequence_length=16, spatial_size=32):
    """A batch for `model` drawn per input: float inputs N(0, 1) (the unit inputs every
    fan-in rule assumes; an input read by a `Rescaling` layer, such as the pixel scaling of
    MobileNetV3, is drawn so that the rescaled values are N(0, 1)); integer inputs token ids uniform below the smallest vocabulary
    of the embeddings that read them (every embedding of the model, where the graph does
    not say), masks (an input named "*mask*", or boolean) ones, "segment_ids"-like inputs
    below the smallest vocabulary too. Unknown dimensions: `sequence_length` for a
    token input, `spatial_size` for an image's height and width.

    Returns:
        One array for a one-input model, else a dict by input name (a list when the
        model's inputs are a list without names it accepts).
    """
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(f"Model '{model.name}' has no inputs to draw data for; pass a batch. "
                         f"Received: model={model.name}")
    rng = np.random.default_rng(seed)
    embeddings = [layer for layer in leaf_layers(model) if hasattr(layer, "input_dim")]
    arrays = {}
    for tensor in inputs:
        dtype = str(tensor.dtype)
        shape = [batch_size] + [
            d if d is not None else (sequence_length if "int" in dtype or "bool" in dtype or len(tensor.shape) <= 2
                                     else spatial_size)
            for d in tensor.shape[1:]]
        name = tensor.name
        if "bool" in dtype or "mask" in name:
            arrays[name] = np.ones(shape, dtype=dtype)
        elif "int" in dtype:
            high = _vocabulary_of(tensor, embeddings)
            arrays[name] = rng.integers(0, high, shape).astype(dtype)
        else:
            values = rng.standard_normal(shape)
            rescaling = _rescaling_of(model, tensor)
            if rescaling is not None:  # the model's own preprocessing then sees N(0, 1)
                scale, offset = (np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)
                                 for v in (rescaling.scale, rescaling.offset))
                values = (values - offset) / scale
            arrays[name] = values.astype(dtype if "float" in dtype else "float32")
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    structure = getattr(model, "_inputs_struct", None)
    if isinstance(structure, dict):
        return {key: arrays[tensor.name] for key, tensor in structure.items()}
    return [arrays[tensor.name] for tensor in inputs]


def _rescaling_of(model, tensor):
    """The `Rescaling` layer that reads `tensor` directly (e.g. MobileNetV3's pixel scaling
    from [0, 255] to [-1, 1]), or None."""
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.layers.Rescaling):
            try:
                if layer.input is tensor:
                    return layer
            except (AttributeError, ValueError):
                continue
    return None


def _vocabulary_of(tensor, embeddings):
    """The vocabulary of the embedding that reads `tensor` directly in the model's graph,
    else the smallest of the model's embeddings' (2 without any)."""
    for layer in embeddings:
        try:
            if layer.input is tensor:
                return int(layer.input_dim)
        except (AttributeError, ValueError):
            continue
    return min((int(layer.input_dim) for layer in embeddings), default=2)
