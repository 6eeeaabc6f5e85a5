"""`examine`: measure a model as given and each candidate initialization (drawn on a copy),
flag what is wrong, and recommend one."""

import keras
import numpy as np

from initializers.diagnostics.probing import probes
from initializers.doctor.flags import THRESHOLDS, flags
from initializers.doctor.measure import measure
from initializers.doctor.report import DoctorReport, MethodResult
from initializers.errors import UnsupportedModelError
from initializers.lsuv import lsuv
from initializers.reinit import initialize_weights, unsupported_layers

DEFAULT_METHODS = ("current", "auto", "he", "glorot", "orthogonal", "lsuv")
# LSUV is left out of the default comparison of models with BatchNormalization: at train
# time BatchNorm divides every batch by its own std, so LSUV's scales hardly matter there
# (Mishkin & Matas 2016), and its one forward pass per layer dominates the cost of
# examining such nets (ResNet50 at 224x224: 43 s of LSUV vs 5 s per other method).
# The recommendation: the fewest flags, then this order (data-free rules before LSUV, the
# papers' rules first), then gains closest to 1.
PREFERENCE = ("he", "auto", "glorot", "lecun", "orthogonal", "lsuv")
# Below this many units or channels in some hidden weight layer, one draw's gains are noisy.
NARROW_WIDTH = 64


def examine(model, batch, labels=None, *, methods=None, seed=0, progress=None):
    """Measures the signal propagation of `model` at initialization, and of candidate inits.

    Args:
        model: a built functional or Sequential model with a `(batch, classes)` output.
        batch: inputs (numpy array or tensor).
        labels: integer labels of `batch` for the cross-entropy whose gradients are
            measured (None: random labels drawn with `seed`, what initialization-time
            gradients look like before the net knows anything). A model with one
            output unit (a regressor) is measured under a squared-output surrogate
            instead (`autodiff_gradients`), and its report says so.
        methods: "current" (the model as given) and any of `initializers.get`'s names,
            "auto" or "lsuv"; each is drawn on a copy of the model with `seed`. Default:
            `DEFAULT_METHODS`, without "lsuv" for a model with BatchNormalization.
        seed: seed of the candidate draws and of random labels.
        progress: optional `str -> None` called before each method (e.g. `print`).

    Returns:
        A `DoctorReport`.

    Raises:
        UnsupportedModelError: an unbuilt model, a layer with weights the doctor cannot
            measure, an output that is not `(batch, classes)`, a model it cannot copy,
            or a method that cannot initialize this model.
        UnknownInitializerError: an unknown method (the message lists the valid names).
        (Both are ValueErrors; `initializers.errors`.)
    """
    model_probes = _checked_probes(model)
    classes = _classes(model)
    if labels is None:
        labels = np.random.default_rng(seed).integers(0, classes, len(batch))
    notes = []
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
    if methods is None:
        methods = DEFAULT_METHODS
        if _has_batch_norm(model):
            methods = tuple(m for m in methods if m != "lsuv")
            notes.append("LSUV was not compared by default (the model has BatchNormalization, which "
                         "makes LSUV's scales moot at train time); ask for it with methods/--methods.")
    results = {}
    for method in methods:
        if progress:
            progress(f"examining {method} ({len(model_probes)} weight layers)")
        results[method] = _examine_method(model, method, batch, labels, seed, from_logits, loss)
    return DoctorReport(model.name, tuple(np.shape(batch)), results, recommend(results),
                        _cannot_judge(model, model_probes), dict(THRESHOLDS), notes,
                        recommend(results, data_free=True))


def recommend(results, data_free=False):
    """The recommended method among `results` (not "current"): the fewest flags, then the
    order of `PREFERENCE`, then the gains closest to 1; `data_free`: LSUV left out (the
    best rule for code that cannot run a batch through the model). None if none."""
    excluded = ("current", "lsuv") if data_free else ("current",)
    candidates = [name for name in results if name not in excluded]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (len(results[n].flags), _rank(n), results[n].gain_error()))


def _checked_probes(model):
    """The model's probes, once the model is known to be one the doctor can measure."""
    if not getattr(model, "built", False):
        raise UnsupportedModelError(f"Model '{model.name}' is not built; give it an input shape.",
                                    f"model={model.name}")
    model_probes = probes(model)  # validates: weight layers in the model's own graph
    unsupported = unsupported_layers(model)
    if unsupported:
        raise UnsupportedModelError(
            f"unsupported layer {unsupported[0]}: the doctor measures models whose weights are Dense "
            f"and convolution kernels, normalization and PReLU (all unsupported: {', '.join(unsupported)}).",
            f"model={model.name}")
    return model_probes


def _classes(model):
    output_shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else ()
    if len(output_shape) != 2:
        raise UnsupportedModelError("The doctor measures gradients of a cross-entropy on a (batch, classes) "
                                    "output.", f"output shape {output_shape}")
    return output_shape[1]


def _examine_method(model, method, batch, labels, seed, from_logits, loss):
    """The `MethodResult` of one method, drawn on a copy ("current": the model itself)."""
    target = model if method == "current" else _copy(model)
    if method == "lsuv":
        lsuv(target, batch, seed=seed, on_constant_output="skip")
    elif method != "current":
        initialize_weights(target, method, seed=seed)
    layers, forward, backward = measure(target, batch, labels, from_logits=from_logits, loss=loss)
    return MethodResult(method, layers, forward, backward, flags(layers, forward, backward))


def _copy(model):
    """A copy of the model with its own weights (the model itself stays untouched)."""
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # clone_model raises several types for custom models
        raise UnsupportedModelError(f"The doctor draws candidate initializations on a copy of the model, "
                                    f"and `keras.models.clone_model` cannot copy this one ({error}).",
                                    f"model={model.name}") from None
    copy.set_weights(model.get_weights())
    return copy


def _cannot_judge(model, model_probes):
    notes = ["Only initialization is examined: one batch, one draw per method; training dynamics "
             "(learning rate, optimizer, normalization at train time) are out of sight."]
    hidden = [probe.weight_layer for probe in model_probes[:-1]]
    widths = [w for w in (getattr(layer, "units", None) or getattr(layer, "filters", None) for layer in hidden) if w]
    if widths and min(widths) < NARROW_WIDTH:
        notes.append(f"Narrow layers (the narrowest hidden weight layer has {min(widths)} units or channels, "
                     f"< {NARROW_WIDTH}): the signal of a deep narrow net drifts from draw to draw (Hanin & "
                     "Rolnick 2018), so one draw's gains can differ from another's by 10x or more; rerun "
                     "with other seeds to see the spread.")
    kinds = {type(layer).__name__ for layer in model.layers}
    if kinds & {"BatchNormalization", "SyncBatchNormalization"}:
        notes.append("BatchNormalization is measured in inference mode (at initialization its moving "
                     "statistics make it the identity); in training it divides every batch by its own "
                     "std, which rescues a badly scaled branch in the forward pass. The signals here are "
                     "what the weights alone do.")
    if kinds & {"Add", "Concatenate", "Multiply", "Average"}:
        notes.append("Residual and merged branches: the signal is read at weight layers only; how a "
                     "branch's scale combines with its shortcut (and e.g. zero-init of the last layer "
                     "of a residual branch, Fixup) is not judged.")
    return notes


def _has_batch_norm(model):
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _rank(method):
    return PREFERENCE.index(method) if method in PREFERENCE else len(PREFERENCE)


__all__ = ["DEFAULT_METHODS", "PREFERENCE", "examine", "recommend"]
