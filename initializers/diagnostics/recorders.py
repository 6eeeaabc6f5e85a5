"""Keras callbacks that record diagnostics on a fixed batch during training.

* `ActivationStatsRecorder`: per-layer activation (and gradient) statistics, the
  data of Glorot & Bengio 2010's Figs. 2-4; optionally TensorBoard histograms.
* `KernelGradientNormRecorder`: the norm of every kernel's gradient, He et al.
  2015's view of Xavier's "diminishing" gradients (Fig. 3).

Both append one JSON line per record (`jsonio.append_jsonl`: fsynced, NaN as null)
at step 0 and then every `every` optimizer steps, and run on any backend.
"""

import importlib.util
import pathlib

import keras

from initializers._inputs import batch_size
from initializers.diagnostics.gradients import gradient_statistics, kernel_gradient_norms
from initializers.jsonio import append_jsonl, read_jsonl
from initializers.diagnostics.probing import probe_model, probes, run
from initializers.diagnostics.statistics import statistics_rows


def _tensorboard_histograms(writer, step, tag_prefix, rows):
    """Writes `summarize` rows as TensorBoard histograms (plus mean/std scalars).

    Uses the `tensorboard` package's own protobufs and event writer, so no
    TensorFlow is needed (the JAX and torch backends work too).
    """
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

    values = []
    for row in rows:
        if row["mean"] is None:  # no finite value to summarize (diverged)
            continue
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


def _check_every(every):
    if isinstance(every, bool) or not isinstance(every, int) or every <= 0:
        raise ValueError(f"`every` must be a positive int. Received: every={every!r}")
    return every


def _check_labels(labels, inputs):
    if labels is not None and len(labels) != batch_size(inputs):
        raise ValueError("`labels` must have one label per example. Received: "
                         f"len(labels)={len(labels)}, batch size={batch_size(inputs)}")
    return labels


class _EveryNSteps(keras.callbacks.Callback):
    """Calls `self.record(step)` at step 0 and then every `every` optimizer steps.

    Checked at the end of each training batch; with `steps_per_execution > 1` a
    record falls on the first batch end at or after each multiple. A fit that
    resumes a trained model starts at its optimizer's step.
    """

    def __init__(self, every):
        super().__init__()
        self.every = _check_every(every)
        self._next_step = 0

    def record(self, step):
        raise NotImplementedError

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        self._next_step = self._step()
        if self._next_step == 0:
            self.record(0)
            self._next_step = self.every

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step >= self._next_step:
            self.record(step)
            self._next_step = (step // self.every + 1) * self.every


class ActivationStatsRecorder(_EveryNSteps):
    """Keras callback: per-layer statistics on a fixed batch during training.

    Appends one JSON line `{"step": s, "layers": [activation_statistics rows]}` to
    `path` at step 0 and then every `every` optimizer steps. With `labels`, the
    line also holds `"backprop"` and `"weights"`: the `gradient_statistics` rows
    under sparse softmax cross-entropy (numpy backpropagation for Dense chains, the
    backend's autodiff otherwise). Each record costs one forward pass of a single
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
        super().__init__(every)
        if tensorboard_dir is not None and importlib.util.find_spec("tensorboard") is None:
            raise ValueError("`tensorboard_dir` needs the `tensorboard` package (pip install "
                             f"tensorboard). Received: tensorboard_dir={tensorboard_dir!r}")
        self.inputs, self.path = inputs, pathlib.Path(path)
        self.bins, self.value_range = bins, value_range
        self.labels = _check_labels(labels, inputs)
        self.tensorboard_dir = tensorboard_dir
        self._probes = self._probe_model = self._writer = None

    def record(self, step):
        record = {"step": step, "layers": statistics_rows(
            self._probes, run(self._probe_model, self.inputs), self.bins, self.value_range)}
        if self.labels is not None:
            record["backprop"], record["weights"] = gradient_statistics(
                self.model, self.inputs, self.labels, bins=self.bins)
        append_jsonl(self.path, record)
        if self._writer is not None:
            for key, prefix in (("layers", "activations"), ("backprop", "backprop"),
                                ("weights", "weight_gradients")):
                if key in record:
                    _tensorboard_histograms(self._writer, step, prefix, record[key])
            self._writer.flush()

    def on_train_begin(self, logs=None):
        # Built once per fit, not per record.
        self._probes = probes(self.model)
        self._probe_model = probe_model(self.model, [p.output_layer.output for p in self._probes])
        if self.labels is not None and self._probes[-1].activation not in ("linear", "softmax"):
            # Fail now, not at the first record.
            raise ValueError("With `labels`, the model must output logits or softmax probabilities. "
                             f"Received: activation={self._probes[-1].activation!r}")
        if self.tensorboard_dir is not None and self._writer is None:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._writer = EventFileWriter(str(self.tensorboard_dir))
        super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class KernelGradientNormRecorder(_EveryNSteps):
    """Keras callback: the gradient norm of every kernel on a fixed batch during training.

    Appends `{"step": s, "layers": [kernel names], "kernel_grad_norm": [norms]}`
    (`kernel_gradient_norms`: d mean_loss / d kernel under sparse softmax
    cross-entropy, any backend) at step 0 and then every `every` optimizer steps.

    Example:

    >>> recorder = KernelGradientNormRecorder(x_val[:64], y_val[:64], "gradients.jsonl", every=100)
    >>> model.fit(x, y, callbacks=[recorder])

    Args:
        inputs, labels: the fixed batch and its integer labels.
        path: JSON-lines file to append to.
        every: optimizer steps between records.
        from_logits: whether the model outputs logits (default) or probabilities.
    """

    def __init__(self, inputs, labels, path, every=100, from_logits=True):
        super().__init__(every)
        self.inputs, self.path, self.from_logits = inputs, pathlib.Path(path), from_logits
        self.labels = _check_labels(labels, inputs)

    def record(self, step):
        names, norms = kernel_gradient_norms(self.model, self.inputs, self.labels,
                                             from_logits=self.from_logits)
        append_jsonl(self.path, {"step": step, "layers": names, "kernel_grad_norm": norms})


def read_records(path):
    """The records a recorder wrote, in order (a torn last line is ignored)."""
    return read_jsonl(path)
