"""Back-propagated and weight gradients of any model, exactly (Glorot & Bengio 2010,
Figs. 7-8; He et al. 2015's "diminishing" gradients, Fig. 3).

Two ways, the same numbers (tested against each other and against
`tf.GradientTape`):
* `backpropagate`: exact hand-written numpy backpropagation for chains of `Dense`
  layers with elementwise activations and a softmax cross-entropy loss, the
  networks of Glorot & Bengio;
* `autodiff_gradients`: any other model, by the running backend's autodiff through
  zero "taps" added to each probed output of a copy that shares the model's layers
  (TensorFlow, JAX or torch, each imported only when it is the backend).

`kernel_gradient_norms` gives the norm of every kernel's gradient (He et al.'s
per-layer view), by the backend's autodiff.
"""

import importlib

import keras
import numpy as np

from initializers._fans import layer_fans
from initializers._graph import weight_layers
from initializers._inputs import batch_size
from initializers.diagnostics.jacobian import (
    DERIVATIVE_FROM_OUTPUT,
    check_applied_directly,
    check_derivative_rule,
)
from initializers.diagnostics.probing import at_least_float32, forward, probes
from initializers.diagnostics.statistics import summarize


def dense_chain(model):
    """Probes of a model that is a chain of Dense layers; raises otherwise."""
    model_probes = probes(model)
    if not all(isinstance(p.weight_layer, keras.layers.Dense) for p in model_probes):
        raise ValueError("gradient_statistics supports chains of Dense layers only. "
                         f"Received: model={model.name}")
    for previous, current in zip(model_probes, model_probes[1:]):
        if current.weight_layer.input is not previous.output_layer.output:
            raise ValueError(f"Layer '{current.weight_layer.name}' does not read the output of "
                             f"'{previous.weight_layer.name}': not a Dense chain. Received: model={model.name}")
    for probe in model_probes[:-1]:
        check_derivative_rule(probe)
    if model_probes[-1].activation not in ("linear", "softmax"):
        raise ValueError("The last Dense layer must output logits (linear) or softmax "
                         f"probabilities. Received: activation={model_probes[-1].activation!r}")
    check_applied_directly(model_probes[-1])
    return model_probes


def backpropagate(model, inputs, labels):
    """Exact per-layer gradients of a Dense chain under softmax cross-entropy.

    Returns:
        `(activation_gradients, weight_gradients)`: for every Dense layer l in order,
        d loss_i / d h_l for each example i (h_l the layer's post-activation output;
        shape [n, units]), and d mean_loss / d W_l (the kernel's gradient, as SGD
        sees it).
    """
    model_probes = dense_chain(model)
    outputs = forward(model, [model_probes[0].weight_layer.input]
                       + [p.output_layer.output for p in model_probes], inputs)
    layer_inputs, activations = outputs[:-1], outputs[1:]
    kernels = [at_least_float32(keras.ops.convert_to_numpy(p.weight_layer.kernel)) for p in model_probes]
    labels = np.asarray(labels).astype(np.int64).ravel()
    n = len(labels)

    top = activations[-1]
    if model_probes[-1].activation == "linear":
        top = np.exp(top - top.max(axis=1, keepdims=True))
        top /= top.sum(axis=1, keepdims=True)
    # d loss_i / d logits_i = softmax - one_hot (also through a softmax output layer).
    delta = top.copy()
    delta[np.arange(n), labels] -= 1.0
    activation_gradients = [None] * (len(model_probes) - 1) + [delta]
    weight_gradients = [None] * len(model_probes)
    for index in range(len(model_probes) - 1, -1, -1):
        weight_gradients[index] = layer_inputs[index].T @ delta / n
        if index == 0:
            break
        below = delta @ kernels[index].T  # d loss_i / d h_(index-1)
        activation_gradients[index - 1] = below
        derivative = DERIVATIVE_FROM_OUTPUT[model_probes[index - 1].activation](activations[index - 1])
        delta = below * derivative
    return activation_gradients, weight_gradients


class _Tap(keras.layers.Layer):
    """Adds a zero variable shaped like the whole batch of its input.

    The gradient of a summed loss with respect to the tap is, row by row, d loss_i /
    d (tapped tensor)_i: the back-propagated gradient at that point of any network,
    from the backend's own autodiff.
    """

    def __init__(self, batch_shape, **kwargs):
        super().__init__(**kwargs)
        self.batch_shape = tuple(batch_shape)

    def build(self, input_shape):
        self.tap = self.add_weight(shape=self.batch_shape, initializer="zeros", name="tap")

    def call(self, inputs):
        return inputs + keras.ops.cast(self.tap, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def backend_gradients(model, loss_of_outputs, inputs, variables, training=False, with_loss=False):
    """d loss / d variable for each of `variables` (of `model`), with the backend's autodiff;
    the model is called with `training` (True: BatchNorm at the batch's statistics).
    `with_loss`: return `(gradients, loss value)`, the loss of the same forward pass.

    The three Keras backends differentiate differently and Keras 3 has no public
    `grad`; each backend is imported only when it is the one running.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")
        with tf.GradientTape() as tape:
            loss = loss_of_outputs(model(inputs, training=training))
        gradients = [np.zeros(tuple(v.shape), v.dtype) if g is None else keras.ops.convert_to_numpy(g)  # off the path
                     for v, g in zip(variables, tape.gradient(loss, variables))]
    elif backend == "jax":
        jax = importlib.import_module("jax")
        trainable = list(model.trainable_variables)
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of_values(values):
            outputs, _ = model.stateless_call(values, non_trainable, inputs, training=training)
            return loss_of_outputs(outputs)

        loss, found = jax.value_and_grad(loss_of_values)([v.value for v in trainable])
        position = {id(v): i for i, v in enumerate(trainable)}
        gradients = [np.asarray(found[position[id(v)]]) for v in variables]
    elif backend == "torch":  # = TensorFlow's to 3e-7 (benchmarks/backends_gradients.py); torch is not in CI
        for variable in variables:
            variable.value.grad = None
        loss = loss_of_outputs(model(inputs, training=training))
        loss.backward()
        gradients = [np.zeros(tuple(variable.shape), variable.dtype) if variable.value.grad is None
                     else variable.value.grad.detach().cpu().numpy() for variable in variables]
    else:
        raise ValueError("Autodiff gradients need the tensorflow, jax or torch backend. "
                         f"Received: backend={backend!r}")
    return (gradients, float(keras.ops.convert_to_numpy(loss))) if with_loss else gradients


LOSSES = ("cross_entropy", "squared_output")


def autodiff_gradients(model, inputs, labels, from_logits=None, loss="cross_entropy"):
    """Per-layer gradients of any model under sparse softmax cross-entropy (or, for a
    regressor, a squared-output surrogate), by autodiff.

    Works for any functional or Sequential model with Dense/Conv layers (the probed
    layers of `probes`): a copy of the model that shares its layers gets a zero
    "tap" added to every probed output, and the backend differentiates the summed
    loss with respect to the taps and the kernels in one backward pass.

    Args:
        model, inputs, labels: a built model, a batch and its integer labels.
        from_logits: whether the model outputs logits (default: True unless the last
            probed layer's activation is softmax).
        loss: "cross_entropy" (sparse softmax cross-entropy with `labels`) or
            "squared_output" (0.5 * the sum of the squared outputs, so d loss / d output
            = output; `labels` unused): a surrogate for a regressor, whose one-output
            "cross-entropy" would have zero gradient everywhere.

    Returns:
        `(activation_gradients, weight_gradients)` in the format of `backpropagate`:
        per probed layer, d loss_i / d h_l for each example i (h_l the probed output,
        for the last layer its output: logits or probabilities), and d mean_loss / d W_l.
    """
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")
    model_probes = probes(model)
    n = batch_size(inputs)  # not len(inputs): a list of two inputs is not a batch of two
    if loss == "squared_output":
        from_logits = True  # not used: the outputs are taken as they are
    elif from_logits is None:
        if model_probes[-1].activation not in ("linear", "softmax"):
            raise ValueError("The last probed layer must output logits (linear) or softmax "
                             "probabilities, or pass `from_logits`. Received: "
                             f"activation={model_probes[-1].activation!r}")
        from_logits = model_probes[-1].activation == "linear"
    taps = {id(probe.output_layer): _Tap(shape, name=f"diagnostics_tap_{index}")
            for index, (probe, shape) in enumerate(zip(model_probes, _tap_shapes(model, model_probes, inputs, n)))}

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        tap = taps.get(id(layer))
        return tap(outputs) if tap is not None else outputs

    # clone_model's call_function needs a functional model; a Sequential one is
    # re-expressed as one over the same layers.
    functional = model
    if isinstance(model, keras.Sequential):
        single = lambda tensors: tensors[0] if len(tensors) == 1 else tensors
        functional = keras.Model(single(model.inputs), single(model.outputs))
    tapped = keras.models.clone_model(functional, clone_function=lambda layer: layer,
                                      call_function=call_function)
    tap_variables = [taps[id(p.output_layer)].tap for p in model_probes]
    # A separable convolution's scale is its pointwise kernel's (as in `measure`).
    kernels = [p.weight_layer.pointwise_kernel if hasattr(p.weight_layer, "pointwise_kernel")
               else p.weight_layer.kernel for p in model_probes]
    gradients = backend_gradients(tapped, summed_loss(loss, labels, from_logits), inputs,
                                   tap_variables + kernels)
    count = len(model_probes)
    activation_gradients = [at_least_float32(g) for g in gradients[:count]]
    weight_gradients = [at_least_float32(g) / n for g in gradients[count:]]
    return activation_gradients, weight_gradients


def _tap_shapes(model, model_probes, inputs, n):
    """The batch shape of every probed output: from the graph, or, where the model has
    dynamic dimensions (e.g. `Input((None, None, 3))`), from one forward pass of `inputs`."""
    shapes = [(n, *probe.output_layer.output.shape[1:]) for probe in model_probes]
    if all(None not in shape for shape in shapes):
        return shapes
    return [np.shape(value) for value in forward(model, [p.output_layer.output for p in model_probes], inputs)]


def summed_loss(loss, labels, from_logits):
    """`outputs -> loss summed over the batch` ("cross_entropy" with `labels`, or
    "squared_output"), as `autodiff_gradients` differentiates it."""
    if loss == "squared_output":
        return lambda outputs: 0.5 * keras.ops.sum(keras.ops.square(outputs))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="sum")
    labels = np.asarray(labels).astype(np.int64).ravel()
    return lambda outputs: loss_fn(labels, outputs)


def _shared_range(values):
    """One symmetric histogram range covering every finite value of every array (so
    layers compare)."""
    bound = max((float(np.abs(v[np.isfinite(v)]).max()) for v in values if np.isfinite(v).any()),
                default=0.0)
    return (-bound, bound) if bound > 0 else (-1.0, 1.0)


def gradient_statistics(model, inputs, labels, bins=50, value_range="shared", method="auto"):
    """`summarize` of every probed layer's back-propagated and weight gradients.

    Args:
        model, inputs, labels: a built model, a batch and its integer labels
            (sparse softmax cross-entropy).
        bins: histogram bins.
        value_range: "shared" (default): the histograms of one kind of every layer
            but the output layer span the same symmetric range (the largest |value|
            over those layers), so they compare across layers as in Glorot & Bengio's
            Figs. 7-8; the output layer (d loss / d logits, an order of magnitude
            larger) keeps its own symmetric range. None: each layer its own data
            range; or a `(low, high)` tuple for every layer.
        method: "numpy" (the exact hand-written `backpropagate`, Dense chains only),
            "autodiff" (`autodiff_gradients`, any model, the backend's autodiff), or
            "auto" (default): numpy for Dense chains, autodiff otherwise.

    Returns:
        `(backprop_rows, weight_rows)`: one dict per probed layer with `layer` and the
        `summarize` fields of d loss / d h (per example; for the last layer, d loss /
        d logits, or by autodiff d loss / d its output) and of d loss / d W.
    """
    if not (value_range in ("shared", None) or (isinstance(value_range, tuple) and len(value_range) == 2)):
        raise ValueError("`value_range` must be 'shared', None or a (low, high) tuple. "
                         f"Received: value_range={value_range!r}")
    if method not in ("auto", "numpy", "autodiff"):
        raise ValueError(f"`method` must be 'auto', 'numpy' or 'autodiff'. Received: method={method!r}")
    if method in ("auto", "numpy"):
        try:
            model_probes = dense_chain(model)
            method = "numpy"
        except ValueError:
            if method == "numpy":
                raise
            method = "autodiff"
    if method == "numpy":
        activation_gradients, weight_gradients = backpropagate(model, inputs, labels)
    else:
        model_probes = probes(model)
        activation_gradients, weight_gradients = autodiff_gradients(model, inputs, labels)
    rows = []
    for gradients in (activation_gradients, weight_gradients):
        if value_range == "shared":
            hidden = _shared_range(gradients[:-1]) if len(gradients) > 1 else None
            spans = [hidden] * (len(gradients) - 1) + [_shared_range(gradients[-1:])]
        else:
            spans = [value_range] * len(gradients)
        rows.append([{"layer": p.weight_layer.name, **summarize(g, bins=bins, value_range=span)}
                     for p, g, span in zip(model_probes, gradients, spans)])
    return rows[0], rows[1]


def kernel_weights(model):
    """(name, variable) of every kernel of the model's weight layers, in forward order:
    "<layer>" for a layer's `kernel`, "<layer>/<weight>" for the two kernels of a
    separable convolution."""
    found = []
    for layer in weight_layers(model):
        for weight_name in layer_fans(layer):
            name = layer.name if weight_name == "kernel" else f"{layer.name}/{weight_name}"
            found.append((name, getattr(layer, weight_name)))
    return found


def kernel_gradient_norms(model, inputs, labels, from_logits=True):
    """Frobenius norm of d mean_loss / d kernel of every kernel, by the backend's autodiff.

    The loss is sparse softmax cross-entropy, averaged over the batch (what SGD sees).
    He et al. 2015 (Fig. 3) explain Xavier's stall at 30 layers by these norms
    "diminishing".

    Returns:
        `(names, norms)`: the kernels' names (`kernel_weights`) and their gradient
        norms, in forward order.
    """
    named = kernel_weights(model)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    labels = np.asarray(labels).astype(np.int64).ravel()
    gradients = backend_gradients(model, lambda outputs: loss_fn(labels, outputs), inputs,
                                  [variable for _, variable in named])
    return [name for name, _ in named], [float(np.linalg.norm(g)) for g in gradients]
