"""`examine`: measure a model as given and each candidate initialization (drawn on the
model, then undone), flag what is wrong, and recommend one."""

import dataclasses

import keras
import numpy as np

from initializers._graph import every_layer
from initializers._inputs import batch_size, conform_batch
from initializers._weights import assign_weights, is_plain_graph, weight_values
from initializers.diagnostics.probing import probes
from initializers.diagnostics.tracing import (
    _is_probabilities,
    compiled_loss,
    leaf_layers,
    merge_scales,
    random_inputs,
    surrogate_loss,
)
from initializers.diagnostics.gradients import summed_loss
from initializers.doctor.architecture import architecture, batch_statistics
from initializers.doctor.flags import FIRST_UPDATES_CHUNK, FIRST_UPDATES_STEPS, THRESHOLDS, flags
from initializers.doctor.measure import measure, measure_traced
from initializers.doctor.report import DoctorReport, MethodResult
from initializers.doctor.stream import measure_stream
from initializers.doctor.updates import first_updates
from initializers.errors import InputMismatchError, UnsupportedModelError
from initializers.learned import gradinit, metainit
from initializers.lsuv import lsuv
from initializers.reinit import initialize_weights, unsupported_layers
from initializers.residual import residual_branches, stacked_branch_kernels

DEFAULT_METHODS = ("current", "auto", "he", "glorot", "orthogonal", "lsuv")
# Offered besides on a residual net without normalization whose branches Fixup can read
# (Zhang et al. 2019: such a net's stream grows exponentially with depth under every
# standard rule; Fixup keeps it at its input's scale).
RESIDUAL_METHODS = ("fixup",)
# LSUV is left out of the default comparison of models with BatchNormalization: at train
# time BatchNorm divides every batch by its own std, so LSUV's scales hardly matter there
# (Mishkin & Matas 2016), and its one forward pass per layer dominates the cost of
# examining such nets (ResNet50 at 224x224: 43 s of LSUV vs 5 s per other method).
# Learned initializations (GradInit, Zhu et al. 2021; MetaInit, Dauphin & Schoenholz 2019):
# offered on request (`methods`), not by default: they rescale the model as given by a
# few dozen second- (GradInit) or third-order (MetaInit) gradient steps on the batch,
# 10-100x the cost of a drawn rule (docs/learned_init.md#cost). On the doctor's batch:
# DOCTOR_LEARNED_ITERATIONS steps; GradInit with the training's optimizer and rate when
# given, else SGD at Keras's default rate, DOCTOR_LEARNED_RATE.
LEARNED_METHODS = ("gradinit", "metainit")
DOCTOR_LEARNED_ITERATIONS = 20
DOCTOR_LEARNED_RATE = 0.01
# The recommendation: the fewest flags, then this order (data-free rules before LSUV and
# the learned inits, the papers' rules first), then gains closest to 1.
PREFERENCE = ("he", "auto", "fixup", "glorot", "lecun", "orthogonal", "lsuv", "gradinit", "metainit")
DATA_METHODS = ("lsuv",) + LEARNED_METHODS
# Below this many units or channels in some hidden weight layer, one draw's gains are noisy.
NARROW_WIDTH = 64
# `auto`'s records name an unstable fixed point (`AutoRule`) at this many kernels or more:
# the doctor then prefers LSUV among methods with as few flags.
UNSTABLE_KERNELS = 2


def examine(model, batch=None, labels=None, *, methods=None, seed=0, progress=None, optimizer=None,
            update_steps=FIRST_UPDATES_STEPS):
    """Measures the signal propagation of `model` at initialization, and of candidate inits.

    Any built Keras model: functional, Sequential, nested or subclassed, with attention,
    embeddings or recurrent layers, any number of inputs, any outputs. A functional or
    Sequential model of Dense and convolution layers with a `(batch, classes)` output is
    read at its weight layers' post-activation outputs (`measure`); any other model at its
    leaf weight layers in call order, each at its own output (`measure_traced`). The model
    is judged by its family (`architecture`: plain stacks by their gains, residual nets by
    their stream, normalized nets by their relative gradients), with BatchNormalization at
    the batch's own statistics, as the first training step sees it.

    Args:
        model: a built Keras model.
        batch: inputs of any batch size: an array, or for several inputs a list of
            arrays in the order of `model.inputs` or a dict by input name; None: drawn
            per input with `seed` (`diagnostics.tracing.random_inputs`: N(0, 1) floats,
            token ids within the embeddings' vocabulary, masks of ones).
        labels: integer labels of `batch` for a `(batch, classes)` output (None: random
            labels drawn with `seed`, what initialization-time gradients look like before
            the net knows anything). The loss: the model's compiled loss when it has one
            (of a single output), else a stated surrogate: cross-entropy for classes
            (per position for a sequence or segmentation output), 0.5 * the sum of
            squared outputs for a regressor (one unit); never a one-class cross-entropy.
        methods: "current" (the model as given) and any of `initializers.get`'s names,
            "auto", "fixup", "lsuv", "gradinit" or "metainit" (the model as given, rescaled by
            `DOCTOR_LEARNED_ITERATIONS` steps of the method on the batch and its labels; a
            `(batch, classes)` output); each is drawn on the model with `seed`, measured, and
            undone (the model ends as given). Default: `DEFAULT_METHODS`, without "lsuv" for
            a model with BatchNormalization, with "fixup" for a residual net without
            normalization whose branches it can read (`RESIDUAL_METHODS`).
        seed: seed of the candidate draws, of random data and of random labels.
        progress: optional `str -> None` called before each method (e.g. `print`).
        optimizer: the training's optimizer (a Keras optimizer, its learning rate set), or
            None. Given, every method also takes `update_steps` updates of a fresh copy of
            it on the batch, and as many at a tenth of its rate (`updates.first_updates`);
            a loss that does not fall below `flags.FIRST_UPDATES_FIT` of its start at the
            rate, while a tenth of the rate does better, is a warning: what the measurements
            at initialization cannot see, an initialization that stalls at this rate.
        update_steps: updates taken with `optimizer`.

    Returns:
        A `DoctorReport`: its `warnings` (which set the command line's exit code) and notes,
        and the recommendation: "current" (keep the current initialization) when the model
        as given has no warning, else the method with the fewest.

    Raises:
        UnsupportedModelError: an unbuilt model, a layer with weights the doctor cannot
            measure, or a method that cannot initialize this model.
        InputMismatchError: a batch that does not fit the model's inputs (a missing,
            extra or wrongly shaped input, named with both shapes; batch sizes that
            differ), or labels whose count is not the batch size.
        UnknownInitializerError: an unknown method (the message lists the valid names).
        (All are ValueErrors; `initializers.errors`.)
    """
    _check_supported(model)
    if batch is None:
        batch = random_inputs(model, 8, seed)
    batch, size = conform_batch(model, batch)
    if labels is not None and len(labels) != size:
        raise InputMismatchError(f"`labels` needs one label per example of the batch ({size}); it has "
                                 f"{len(labels)}.", f"len(labels)={len(labels)}")
    notes = []
    shape = architecture(model)
    measurement = _measurement(model, batch, labels, seed, notes)
    if methods is None:
        methods = DEFAULT_METHODS
        if _has_batch_norm(model):
            methods = tuple(m for m in methods if m != "lsuv")
            notes.append("LSUV was not compared by default (the model has BatchNormalization, which "
                         "makes LSUV's scales moot at train time); ask for it with methods/--methods.")
        if shape.family == "residual" and not shape.normalization:
            if _fixup_reads(model):
                methods += RESIDUAL_METHODS
            else:
                notes.append("Fixup (Zhang et al. 2019) was not compared: its branches cannot be read from this "
                             "model (residual sums inside a layer's code, or no Add of a branch of Dense or "
                             "convolution layers); build the blocks functionally to compare it.")
    merges = any(isinstance(layer, keras.layers.Add) for layer in every_layer(model))
    results, auto_records = {}, None
    for method in methods:
        if progress:
            progress(f"examining {method}")
        result, records = _examine_method(model, method, batch, labels, seed, measurement, merges, shape,
                                          optimizer, update_steps)
        results[method] = result
        auto_records = records if method == "auto" else auto_records
    unstable = _unstable_rules(auto_records)
    if unstable:
        notes.append(_drift_note(unstable, "lsuv" in results))
    if optimizer is None:
        notes.append("The first updates were not taken: give the training's optimizer and learning rate "
                     "(`optimizer=` or --optimizer/--lr) to check that this initialization fits a batch at it.")
    prefer_data = len(unstable) >= UNSTABLE_KERNELS
    measured = measurement.layers_of(results[next(iter(results))])
    recommended = recommend(results, prefer_data=prefer_data)
    return DoctorReport(model.name, _batch_shape(batch), results, recommended,
                        _cannot_judge(model, measured), dict(THRESHOLDS), notes,
                        None if recommended == "current" else recommend(results, data_free=True),
                        prefer_data and "lsuv" in results, shape.family, shape.describe())


def _batch_shape(batch):
    shapes = [tuple(np.shape(x)) for x in keras.tree.flatten(batch)]
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


@dataclasses.dataclass(frozen=True)
class _Measurement:
    """How one model is measured: `measure(model) -> (rows, forward, backward)`, the layers
    a result's rows stand for, and the summed loss of the outputs (stream, first updates)."""

    measure: object
    layers_of: object
    loss_of_outputs: object
    size: int

    def mean_loss(self, outputs):
        return self.loss_of_outputs(outputs) / self.size


def _measurement(model, batch, labels, seed, notes):
    """The `_Measurement` of this model, appending to `notes` what was measured how."""
    model_probes = _functional_probes(model)
    output_shape = tuple(model.outputs[0].shape) if model_probes and len(model.outputs) == 1 else ()
    size = batch_size(batch)
    if model_probes is not None and len(output_shape) == 2 and getattr(model, "loss", None) is None:
        classes = output_shape[1]
        labels = random_labels(seed, classes, size) if labels is None else labels
        loss = "squared_output" if classes == 1 else "cross_entropy"
        from_logits = None  # decided by the last layer: logits (linear) or softmax probabilities
        if loss == "squared_output":
            notes.append("The output has one unit (a regressor): the gradients measured are those of the "
                         "surrogate loss 0.5 * sum of squared outputs (d loss / d output = output), not of a "
                         "one-class cross-entropy, whose gradient is zero everywhere.")
        elif model_probes[-1].activation not in ("linear", "softmax"):
            from_logits = True
            notes.append(f"The output layer's activation is {model_probes[-1].activation}, neither linear nor "
                         "softmax; its output was treated as logits for the cross-entropy.")
        logits = from_logits if from_logits is not None else model_probes[-1].activation != "softmax"
        return _Measurement(
            lambda target: measure(target, batch, labels, model_probes, from_logits=from_logits, loss=loss),
            lambda result: [probe.weight_layer for probe in model_probes],
            summed_loss(loss, labels, logits), size)
    outputs = keras.tree.map_structure(keras.ops.convert_to_numpy, model(batch, training=False))
    chosen = compiled_loss(model, outputs, seed) or surrogate_loss(outputs, seed, labels)
    loss_fn, text = chosen
    notes.append("Measured at every leaf weight layer (Dense, convolution, EinsumDense, embedding, recurrent "
                 "layer; inside nested models and layers too) in the order the model calls them, each at its "
                 f"own output; gradients of {text}.")
    leaves = leaf_layers(model)
    return _Measurement(lambda target: measure_traced(target, batch, loss_fn), lambda result: leaves, loss_fn, size)


def random_labels(seed, classes, size):
    """Labels drawn uniformly over `classes` with `seed`: what initialization-time gradients
    look like before the net knows anything (the measurement's and the learned candidates')."""
    return np.random.default_rng(seed).integers(0, classes, size)


def _functional_probes(model):
    """The functional probes when the model is a graph of Dense/convolution layers (and
    layers that hold no kernel), else None (then the traced measurement)."""
    if not is_plain_graph(model):
        return None
    try:
        return probes(model)
    except UnsupportedModelError:
        return None


def _unstable_rules(records):
    """(activation, drift per layer) of every kernel whose `auto` rule is an unstable fixed
    point (`AutoRule`)."""
    return [(record.activation, record.drift_per_layer) for record in records or ()
            if record.drift_per_layer is not None]


def _drift_note(unstable, compared_lsuv):
    kinds = sorted({f"{name} (x{drift:.3g} per layer)" for name, drift in unstable})
    advice = ("LSUV (Mishkin & Matas 2016) measures the drift on data and removes it; it is preferred "
              "among methods with as few flags" if compared_lsuv else
              "a data-driven fix (LSUV, Mishkin & Matas 2016: `initializers.lsuv(model, batch)`) measures "
              "the drift on data and removes it")
    kernels = "1 kernel meets" if len(unstable) == 1 else f"{len(unstable)} kernels meet"
    return (f"`auto`: {kernels} activations whose unit fixed point of the mean-field "
            f"length map is unstable: {', '.join(kinds)}. No data-free variance keeps such a net's signal "
            f"over many layers (a deviation grows by that factor per layer); {advice}.")


def recommend(results, data_free=False, prefer_data=False):
    """The recommended method among `results`: "current" (keep the current initialization)
    when the model as given has no warning; else the fewest warnings among the others, then
    the order of `PREFERENCE`, then the gains closest to 1. `data_free`: LSUV left out and
    "current" never kept (the best rule for code that cannot run a batch through the model);
    `prefer_data`: LSUV first among equals (a net whose activations drift under every
    data-free rule). None if none, and None when the best candidate has more warnings than
    the model as given, or as many and gains no closer to 1: then the trouble is not one an
    initialization fixes (a 10-layer sigmoid MLP whose every init stalls at the training's
    rate, results/doctor)."""
    current = results.get("current")
    if not data_free and current is not None and not current.warnings:
        return "current"
    excluded = ("current", *DATA_METHODS) if data_free else ("current",)
    candidates = [name for name in results if name not in excluded]
    if not candidates:
        return None
    rank = (lambda n: -1 if n == "lsuv" else _rank(n)) if prefer_data else _rank
    best = min(candidates, key=lambda n: (len(results[n].warnings), rank(n), results[n].gain_error()))
    if current is not None:
        ours, theirs = len(current.warnings), len(results[best].warnings)
        if theirs > ours or (theirs == ours and results[best].gain_error() >= current.gain_error()):
            return None
    return best


def _fixup_reads(model):
    """Whether `initialize_weights(model, "fixup")` can find this model's residual branches."""
    try:
        return bool(residual_branches(model)) or any(
            stacked_branch_kernels(layer) for layer in every_layer(model))
    except UnsupportedModelError:
        return False


def _check_supported(model):
    if not getattr(model, "built", False):
        raise UnsupportedModelError(f"Model '{model.name}' is not built; give it an input shape.",
                                    f"model={model.name}")
    unsupported = unsupported_layers(model)
    if unsupported:
        raise UnsupportedModelError(
            f"unsupported layer {unsupported[0]}: the doctor measures models whose weights "
            "initialize_weights knows (kernels, embeddings, recurrent cells; normalization, PReLU and "
            f"LayerScale left alone) (all unsupported: {', '.join(unsupported)}).", f"model={model.name}")


def _examine_method(model, method, batch, labels, seed, measurement, merges, shape, optimizer, update_steps):
    """(`MethodResult`, `initialize_weights` records or None) of one method, drawn on the
    model itself and undone afterwards ("current": the model as given)."""
    before = weight_values(model)
    records, stream, updates = None, None, None
    try:
        if method == "lsuv":
            lsuv(model, batch, seed=seed, on_constant_output="skip")
        elif method in LEARNED_METHODS:
            learn_on_batch(model, method, batch, labels, seed, optimizer)
        elif method != "current":
            records = initialize_weights(model, method, seed=seed)
        drawn = weight_values(model)
        with batch_statistics(model):  # as the first training step sees BatchNorm
            layers, forward, backward = measurement.measure(model)
            if shape.family == "residual":
                stream = measure_stream(model, batch, shape.stream, measurement.loss_of_outputs)
            scales = merge_scales(model, batch) if merges else []
            if optimizer is not None:
                assign_weights(model, drawn)  # BatchNorm's moving statistics as drawn
                updates = first_updates(model, batch, measurement.mean_loss, optimizer, update_steps,
                                        FIRST_UPDATES_CHUNK)
    finally:
        assign_weights(model, before)
    found = flags(layers, forward, backward, shape.family, stream, updates, normalized=bool(shape.normalization))
    return MethodResult(method, layers, forward, backward, found, scales, stream, updates), records


def learn_on_batch(model, method, batch, labels, seed, optimizer=None,
                   iterations=DOCTOR_LEARNED_ITERATIONS):
    """GradInit or MetaInit on one batch (the doctor's, or `--apply`'s): the model as given,
    rescaled in place. Labels: `labels`, or drawn uniformly over the classes with `seed`
    (as the measurement draws them); the loss: sparse cross-entropy on the output (logits
    unless the outputs are probabilities). GradInit draws S and S' (two thirds of
    the batch each, overlapping in one third) from the batch; MetaInit takes all of it."""
    outputs = model(batch, training=False)
    if isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2 or outputs.shape[-1] < 2:
        raise UnsupportedModelError(
            f"{method} in the doctor needs one (batch, classes) output; call `initializers.{method}` with "
            "your loss instead.", f"output={keras.tree.map_structure(lambda t: tuple(t.shape), outputs)}")
    size, classes = int(outputs.shape[0]), int(outputs.shape[-1])
    if labels is None:
        labels = random_labels(seed, classes, size)
    # Probabilities (non-negative, summing to 1) taken as such, anything else as logits: the
    # surrogate loss's rule (a Softmax layer or Activation("softmax") counts too).
    probabilities = _is_probabilities(keras.ops.convert_to_numpy(outputs))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)
    if method == "gradinit":
        if size < 3:
            raise InputMismatchError("gradinit in the doctor needs a batch of 3 or more examples.",
                                     f"batch_size={size}")
        rate = DOCTOR_LEARNED_RATE if optimizer is None else None
        return gradinit(model, (batch, labels), optimizer=optimizer or "sgd", learning_rate=rate,
                        iterations=iterations, batch_size=2 * (size // 3), loss=loss, seed=seed)
    return metainit(model, (batch, labels), iterations=iterations, batch_size=size, loss=loss, seed=seed)


def _cannot_judge(model, measured):
    notes = ["Only initialization is examined: one batch, one draw per method; training dynamics "
             "(learning rate, optimizer, normalization at train time) are out of sight."]
    hidden = measured[:-1]
    widths = [w for w in (getattr(layer, "units", None) or getattr(layer, "filters", None) for layer in hidden) if w]
    if widths and min(widths) < NARROW_WIDTH:
        notes.append(f"Narrow layers (the narrowest hidden weight layer has {min(widths)} units or channels, "
                     f"< {NARROW_WIDTH}): the signal of a deep narrow net drifts from draw to draw (Hanin & "
                     "Rolnick 2018), so one draw's gains can differ from another's by 10x or more; rerun "
                     "with other seeds to see the spread.")
    kinds = {type(layer).__name__ for layer in every_layer(model)}
    if kinds & {"BatchNormalization", "SyncBatchNormalization"}:
        notes.append("BatchNormalization is measured with the batch's own statistics, as the first training "
                     "step sees it (in inference mode its fresh moving statistics would make it the identity); "
                     "with very small batches those statistics are noisy.")
    if "LayerScale" in kinds:
        notes.append("LayerScale (ConvNeXt) multiplies every residual branch by per-channel scales set by "
                     "the architecture (1e-6 at initialization, Touvron et al. 2021): the branches' last "
                     "weight layers get gradients that much smaller by design, and the backward gain, which "
                     "compares such a layer with the first, is dominated by it; read the per-layer table.")
    if kinds & {"Concatenate", "Multiply", "Average"}:
        notes.append("Merges other than Add (Concatenate, Multiply, Average): the signal is read at weight "
                     "layers only; how the merged branches' scales compare is not judged.")
    if kinds & {"TransformerEncoder", "TransformerDecoder"} or any(
            isinstance(layer, keras.layers.MultiHeadAttention) for layer in every_layer(model)):
        notes.append("Residual sums written as `x + y` inside a layer's code (transformer blocks) are not "
                     "Add layers: their branch-to-shortcut scales are not reported, only Add layers'.")
    return notes


def _has_batch_norm(model):
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in every_layer(model))


def _rank(method):
    return PREFERENCE.index(method) if method in PREFERENCE else len(PREFERENCE)


__all__ = ["DEFAULT_METHODS", "PREFERENCE", "examine", "recommend"]
