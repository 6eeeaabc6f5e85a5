"""Signal-propagation diagnostics for any built Keras model.

What Glorot & Bengio 2010 measure to explain why deep nets fail to train:
per-layer activation statistics and histograms (their Figs. 2-4 and 6), and the
singular values of the layer-to-layer Jacobians (about 0.5 on average with the
"standard" init vs about 0.8 with the normalized init, tanh, Sec. 4.2.2).

Everything here is backend-agnostic (`keras.ops` and numpy): one forward pass
of a single multi-output model gives every probed layer's activations (no
sub-model per layer). Back-propagated and weight gradients (their Figs. 7-8) are
computed exactly by hand-written numpy backpropagation for chains of `Dense`
layers with elementwise activations and a softmax cross-entropy loss, the
networks of the paper (`backpropagate`), and for any other model by the running
backend's autodiff through zero "taps" added to each probed output of a copy that
shares the model's layers (`autodiff_gradients`; TensorFlow, JAX or torch, each
imported only when it is the backend).

Example:

>>> stats = activation_statistics(model, batch)      # one dict per probed layer
>>> print(format_table(stats))
>>> jacobian_singular_values(model, batch)            # Dense chains only
>>> backprop, weights = gradient_statistics(model, batch, labels)  # any model

Plots in the style of the paper's figures: `initializers.diagnostics_plots`.
"""

import dataclasses
import json
import pathlib

import keras
import numpy as np

from initializers._graph import activation_source
from initializers.reinit import format_table as _format_rows

# Saturation thresholds (the paper plots the distributions but fixes no threshold;
# these are our choice): tanh / softsign near their asymptotes +-1, sigmoid near 0
# or 1, ReLU: exactly zero ("dead" for this example).
SATURATION_RULES = {
    "tanh": lambda h: np.abs(h) >= 0.9,
    "softsign": lambda h: np.abs(h) >= 0.9,
    "sigmoid": lambda h: (h <= 0.1) | (h >= 0.9),
    "relu": lambda h: h == 0,
}

# Derivative of each elementwise activation written from its *output* h = phi(z),
# which is what the probes record: J = diag(phi'(z)) W^T needs only h.
_DERIVATIVE_FROM_OUTPUT = {
    "linear": lambda h: np.ones_like(h),
    "tanh": lambda h: 1.0 - h**2,
    "sigmoid": lambda h: h * (1.0 - h),
    "softsign": lambda h: (1.0 - np.abs(h)) ** 2,
    "relu": lambda h: (h > 0).astype(h.dtype),
}


@dataclasses.dataclass(frozen=True)
class Probe:
    """Where a weight layer's post-activation signal is read."""

    weight_layer: keras.layers.Layer  # Dense / Conv with the kernel
    output_layer: keras.layers.Layer  # the layer whose output is phi(W h + b)
    activation: str


def probes(model):
    """One `Probe` per Dense/Conv layer of a built functional or Sequential model.

    The probed signal is the weight layer's own output when its activation is
    non-linear, else the output of a single consuming activation layer (e.g.
    `Dense` followed by `Activation("tanh")`), else the linear output itself.
    """
    if not getattr(model, "built", False):
        raise ValueError(f"Model '{model.name}' is not built. Received: model={model.name}")
    found = []
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                                  keras.layers.Conv3D)):
            continue
        output_layer, activation, _ = activation_source(layer)
        found.append(Probe(layer, output_layer, activation))
    if not found:
        raise ValueError(f"Model '{model.name}' has no Dense or Conv layer to probe. "
                         f"Received: model={model.name}")
    return found


def _probe_model(model, tensors):
    """A single multi-output model computing the given symbolic tensors of `model`."""
    model_inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(model_inputs, list(tensors))


def _run(probe_model, inputs):
    """One forward pass of a probe model, outputs as numpy arrays (float32 or wider)."""
    outputs = probe_model(inputs, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [_at_least_float32(keras.ops.convert_to_numpy(o)) for o in outputs]


def _at_least_float32(array):
    """float16/bfloat16/int arrays as float32; float32 and float64 as they are. Statistics
    of a float32 network in float32 (accumulated in float64) cost half of float64's."""
    array = np.asarray(array)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)


def _forward(model, tensors, inputs):
    """Values of the given symbolic tensors of `model` on `inputs`, one forward pass."""
    return _run(_probe_model(model, tensors), inputs)


def layer_activations(model, inputs, model_probes=None):
    """Post-activation outputs of every probed layer, from one forward pass.

    Returns:
        A list of numpy arrays (float32, or float64 for a float64 model), one per probe,
        in layer order.
    """
    model_probes = model_probes or probes(model)
    return _forward(model, [p.output_layer.output for p in model_probes], inputs)


def summarize(values, activation=None, bins=50, value_range=None, percentiles=(2, 98)):
    """Mean, std, percentiles, saturation fraction and histogram of one layer's values.

    Args:
        values: array of any shape (all elements count).
        activation: name used for the saturation rule (`SATURATION_RULES`);
            other activations report `saturation=None`.
        bins, value_range: histogram bins and range (default: the data's range).
        percentiles: the two percentiles to report (Glorot & Bengio plot the 98th).
    """
    flat = _at_least_float32(values).ravel()
    low, high = np.percentile(flat, percentiles)
    counts, edges = np.histogram(flat, bins=bins, range=value_range)
    rule = SATURATION_RULES.get(activation)
    return {
        "mean": float(flat.mean(dtype=np.float64)),
        "std": float(flat.std(dtype=np.float64)),
        f"p{percentiles[0]:g}": float(low),
        f"p{percentiles[1]:g}": float(high),
        "saturation": float(rule(flat).mean()) if rule else None,
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def activation_statistics(model, inputs, bins=50, value_range=None):
    """`summarize` of every probed layer's activations on `inputs` (one forward pass).

    Returns:
        A list of dicts with `layer`, `activation` and the `summarize` fields.
    """
    model_probes = probes(model)
    return _statistics_rows(model_probes, layer_activations(model, inputs, model_probes),
                            bins, value_range)


def _statistics_rows(model_probes, values, bins, value_range):
    return [
        {"layer": probe.weight_layer.name, "activation": probe.activation,
         **summarize(value, probe.activation, bins=bins, value_range=value_range)}
        for probe, value in zip(model_probes, values)
    ]


def _mean_singular_values(kernel, derivatives):
    """Per example: mean singular value of J = diag(derivative) kernel^T.

    `kernel` has shape [n_in, n_out], `derivatives` [examples, n_out]. The singular
    values are the square roots of the eigenvalues of the smaller Gram matrix
    (J J^T or J^T J); a symmetric eigensolver on it is ~2.5x faster than an SVD of J
    at width 1000 and agrees with it to ~1e-13 in the mean.
    """
    n_in, n_out = kernel.shape
    shared = kernel.T @ kernel if n_out <= n_in else None
    means = []
    for d in derivatives:
        gram = d[:, None] * shared * d[None, :] if shared is not None else (kernel * d**2) @ kernel.T
        means.append(float(np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).mean()))
    return means


def jacobian_singular_values(model, inputs, max_examples=32):
    """Mean singular value of each layer-to-layer Jacobian dh_i / dh_{i-1}.

    For consecutive `Dense` layers with elementwise activations,
    J_i(x) = diag(phi'(z_i(x))) W_i^T, computed exactly from the weights and
    the recorded activations (phi' written from h = phi(z)). The mean over the
    singular values of J_i(x) is averaged over up to `max_examples` examples:
    the number Glorot & Bengio 2010 report per layer (Sec. 4.2.2).

    Returns:
        A list of dicts `{"layer", "activation", "mean_singular_value", "std_over_examples"}`
        for every Dense layer after the first of a run of Dense layers.

    Raises:
        ValueError: for a model with fewer than two Dense layers, or an
            activation without a known derivative.
    """
    model_probes = [p for p in probes(model) if isinstance(p.weight_layer, keras.layers.Dense)]
    if len(model_probes) < 2:
        raise ValueError("jacobian_singular_values needs at least two Dense layers. "
                         f"Received: model={model.name}")
    values = layer_activations(model, inputs, model_probes)
    results = []
    for probe, output in zip(model_probes[1:], values[1:]):
        if probe.activation not in _DERIVATIVE_FROM_OUTPUT:
            raise ValueError(f"No derivative rule for activation {probe.activation!r}; known: "
                             f"{sorted(_DERIVATIVE_FROM_OUTPUT)}. Received: layer={probe.weight_layer.name}")
        kernel = keras.ops.convert_to_numpy(probe.weight_layer.kernel).astype(np.float64)
        derivative = _DERIVATIVE_FROM_OUTPUT[probe.activation](output[:max_examples])
        per_example = _mean_singular_values(kernel, derivative)
        results.append({"layer": probe.weight_layer.name, "activation": probe.activation,
                        "mean_singular_value": float(np.mean(per_example)),
                        "std_over_examples": float(np.std(per_example))})
    return results


def _dense_chain(model):
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
        if probe.activation not in _DERIVATIVE_FROM_OUTPUT:
            raise ValueError(f"No derivative rule for activation {probe.activation!r}; known: "
                             f"{sorted(_DERIVATIVE_FROM_OUTPUT)}. Received: layer={probe.weight_layer.name}")
    if model_probes[-1].activation not in ("linear", "softmax"):
        raise ValueError("The last Dense layer must output logits (linear) or softmax "
                         f"probabilities. Received: activation={model_probes[-1].activation!r}")
    return model_probes


def backpropagate(model, inputs, labels):
    """Exact per-layer gradients of a Dense chain under softmax cross-entropy.

    Returns:
        `(activation_gradients, weight_gradients)`: for every Dense layer l in order,
        d loss_i / d h_l for each example i (h_l the layer's post-activation output;
        shape [n, units]), and d mean_loss / d W_l (the kernel's gradient, as SGD
        sees it).
    """
    model_probes = _dense_chain(model)
    outputs = _forward(model, [model_probes[0].weight_layer.input]
                       + [p.output_layer.output for p in model_probes], inputs)
    layer_inputs, activations = outputs[:-1], outputs[1:]
    kernels = [_at_least_float32(keras.ops.convert_to_numpy(p.weight_layer.kernel)) for p in model_probes]
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
        derivative = _DERIVATIVE_FROM_OUTPUT[model_probes[index - 1].activation](activations[index - 1])
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


def _backend_gradients(model, loss_of_outputs, inputs, variables):
    """d loss / d variable for each of `variables` (of `model`), with the backend's autodiff.

    The three Keras backends differentiate differently and Keras 3 has no public
    `grad`; each backend is imported only when it is the one running.
    """
    import importlib

    backend = keras.backend.backend()
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")
        with tf.GradientTape() as tape:
            loss = loss_of_outputs(model(inputs, training=False))
        return [keras.ops.convert_to_numpy(g) for g in tape.gradient(loss, variables)]
    if backend == "jax":
        jax = importlib.import_module("jax")
        trainable = list(model.trainable_variables)
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of_values(values):
            outputs, _ = model.stateless_call(values, non_trainable, inputs, training=False)
            return loss_of_outputs(outputs)

        gradients = jax.grad(loss_of_values)([v.value for v in trainable])
        position = {id(v): i for i, v in enumerate(trainable)}
        return [np.asarray(gradients[position[id(v)]]) for v in variables]
    if backend == "torch":  # written to the torch backend's API; not covered by our tests
        for variable in variables:
            variable.value.grad = None
        loss_of_outputs(model(inputs, training=False)).backward()
        return [variable.value.grad.detach().cpu().numpy() for variable in variables]
    raise ValueError("Autodiff gradients need the tensorflow, jax or torch backend. "
                     f"Received: backend={backend!r}")


def autodiff_gradients(model, inputs, labels, from_logits=None):
    """Per-layer gradients of any model under sparse softmax cross-entropy, by autodiff.

    Works for any functional or Sequential model with Dense/Conv layers (the probed
    layers of `probes`): a copy of the model that shares its layers gets a zero
    "tap" added to every probed output, and the backend differentiates the summed
    loss with respect to the taps and the kernels in one backward pass.

    Args:
        model, inputs, labels: a built model, a batch and its integer labels.
        from_logits: whether the model outputs logits (default: True unless the last
            probed layer's activation is softmax).

    Returns:
        `(activation_gradients, weight_gradients)` in the format of `backpropagate`:
        per probed layer, d loss_i / d h_l for each example i (h_l the probed output,
        for the last layer its output: logits or probabilities), and d mean_loss / d W_l.
    """
    model_probes = probes(model)
    n = len(inputs) if not isinstance(inputs, dict) else len(next(iter(inputs.values())))
    if from_logits is None:
        if model_probes[-1].activation not in ("linear", "softmax"):
            raise ValueError("The last probed layer must output logits (linear) or softmax "
                             "probabilities, or pass `from_logits`. Received: "
                             f"activation={model_probes[-1].activation!r}")
        from_logits = model_probes[-1].activation == "linear"
    taps = {}
    for index, probe in enumerate(model_probes):
        shape = (n, *probe.output_layer.output.shape[1:])
        taps[id(probe.output_layer)] = _Tap(shape, name=f"diagnostics_tap_{index}")

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
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="sum")
    labels = np.asarray(labels).astype(np.int64).ravel()
    tap_variables = [taps[id(p.output_layer)].tap for p in model_probes]
    kernels = [p.weight_layer.kernel for p in model_probes]
    gradients = _backend_gradients(tapped, lambda outputs: loss_fn(labels, outputs), inputs,
                                   tap_variables + kernels)
    count = len(model_probes)
    activation_gradients = [_at_least_float32(g) for g in gradients[:count]]
    weight_gradients = [_at_least_float32(g) / n for g in gradients[count:]]
    return activation_gradients, weight_gradients


def _shared_range(values):
    """One symmetric histogram range covering every array (so layers compare)."""
    bound = max(float(np.abs(v).max()) for v in values)
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
            model_probes = _dense_chain(model)
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


def _tensorboard_histograms(writer, step, tag_prefix, rows):
    """Writes `summarize` rows as TensorBoard histograms (plus mean/std scalars).

    Uses the `tensorboard` package's own protobufs and event writer, so no
    TensorFlow is needed (the JAX and torch backends work too).
    """
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

    values = []
    for row in rows:
        counts, edges = row["histogram"]["counts"], row["histogram"]["edges"]
        total = float(sum(counts))
        histogram = HistogramProto(
            min=float(edges[0]), max=float(edges[-1]), num=total,
            sum=row["mean"] * total, sum_squares=(row["std"] ** 2 + row["mean"] ** 2) * total,
            bucket_limit=list(edges[1:]), bucket=[float(c) for c in counts])
        tag = f"{tag_prefix}/{row['layer']}"
        values.append(Summary.Value(tag=tag, histo=histogram))
        values.append(Summary.Value(tag=f"{tag}/mean", simple_value=row["mean"]))
        values.append(Summary.Value(tag=f"{tag}/std", simple_value=row["std"]))
    writer.add_event(Event(step=step, summary=Summary(value=values)))


class ActivationStatsRecorder(keras.callbacks.Callback):
    """Keras callback: per-layer statistics on a fixed batch during training.

    Appends one JSON line `{"step": s, "layers": [activation_statistics rows]}` to
    `path` at step 0 and then every `every` optimizer steps (checked at the end of
    each training batch; with `steps_per_execution > 1` the record falls on the
    first batch end at or after each multiple). With `labels`, the line also holds
    `"backprop"` and `"weights"`: the `gradient_statistics` rows under sparse
    softmax cross-entropy (numpy backpropagation for Dense chains, the backend's
    autodiff otherwise). Each record costs one forward pass of a single
    multi-output model over `inputs`, plus, with labels, one backward pass.

    With `tensorboard_dir`, every record is also written there as TensorBoard
    histograms (`activations/<layer>`, `backprop/<layer>`, `weight_gradients/<layer>`)
    with mean/std scalars, which Keras's own TensorBoard callback does not do for
    activations or gradients. Needs the `tensorboard` package, not TensorFlow.

    Example:

    >>> recorder = ActivationStatsRecorder(x_test[:300], "stats.jsonl", every=1000,
    ...                                    value_range=(-1, 1), labels=y_test[:300])
    >>> model.fit(x, y, callbacks=[recorder])
    >>> records = read_records("stats.jsonl")

    Args:
        inputs: the fixed batch (Glorot & Bengio use 300 test examples).
        path: JSON-lines file to append to.
        every: optimizer steps between records.
        bins, value_range: activation-histogram settings passed to `summarize`
            (e.g. `(-1, 1)` for tanh); gradient histograms share one range per kind.
        labels: integer labels of `inputs`, to record gradient statistics too.
        tensorboard_dir: folder for TensorBoard event files (None: none).
    """

    def __init__(self, inputs, path, every=100, bins=50, value_range=None, labels=None,
                 tensorboard_dir=None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
            raise ValueError(f"`every` must be a positive int. Received: every={every!r}")
        if labels is not None and len(labels) != len(inputs):
            raise ValueError("`labels` must have one label per input. Received: "
                             f"len(labels)={len(labels)}, len(inputs)={len(inputs)}")
        if tensorboard_dir is not None:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise ValueError("`tensorboard_dir` needs the `tensorboard` package (pip install "
                                 f"tensorboard). Received: tensorboard_dir={tensorboard_dir!r}")
        self.inputs, self.path, self.every = inputs, pathlib.Path(path), every
        self.bins, self.value_range, self.labels = bins, value_range, labels
        self.tensorboard_dir = tensorboard_dir
        self._next_step = 0
        self._probes = self._probe_model = self._writer = None

    def _record(self, step):
        record = {"step": step, "layers": _statistics_rows(
            self._probes, _run(self._probe_model, self.inputs), self.bins, self.value_range)}
        if self.labels is not None:
            record["backprop"], record["weights"] = gradient_statistics(
                self.model, self.inputs, self.labels, bins=self.bins)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, prefix in (("layers", "activations"), ("backprop", "backprop"),
                                ("weights", "weight_gradients")):
                if key in record:
                    _tensorboard_histograms(self._writer, step, prefix, record[key])
            self._writer.flush()

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        # Built once per fit, not per record.
        self._probes = probes(self.model)
        self._probe_model = _probe_model(self.model, [p.output_layer.output for p in self._probes])
        if self.labels is not None and self._probes[-1].activation not in ("linear", "softmax"):
            # Fail now, not at the first record.
            raise ValueError("With `labels`, the model must output logits or softmax probabilities. "
                             f"Received: activation={self._probes[-1].activation!r}")
        if self.tensorboard_dir is not None and self._writer is None:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writer = EventFileWriter(str(self.tensorboard_dir))
        self._next_step = self._step()
        if self._next_step == 0:
            self._record(0)
            self._next_step = self.every

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step >= self._next_step:
            self._record(step)
            self._next_step = (step // self.every + 1) * self.every

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_records(path):
    """The records an `ActivationStatsRecorder` wrote, in order."""
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def format_table(statistics):
    """A readable fixed-width table of `activation_statistics` rows."""
    columns = ("layer", "activation", "mean", "std", "p2", "p98", "saturation")
    return _format_rows(columns, [[row.get(c) for c in columns] for row in statistics])
