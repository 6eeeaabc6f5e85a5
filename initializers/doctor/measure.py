"""The doctor's measurements: one model state, every weight layer, one batch."""

import dataclasses
import math

import keras
import numpy as np

from initializers._activations import RELU_FAMILY
from initializers._fans import compute_fans, layer_fans
from initializers._weights import weight_labels
from initializers.diagnostics.gradients import autodiff_gradients
from initializers.diagnostics.probing import layer_activations, probes
from initializers.diagnostics.statistics import SATURATION_RULES
from initializers.diagnostics.tracing import measured_weight, trace, traced_gradients


@dataclasses.dataclass
class LayerMeasurement:
    """One weight layer's numbers in one model state (see `examine`)."""

    layer: str
    kind: str
    activation: str
    fan_in: int
    fan_out: int
    kernel_std: float
    target_std: dict          # rule -> the std that rule asks for with this layer's fans
    signal_mean: float
    signal_std: float
    signal_rms: float
    dead_fraction: float | None       # ReLU family: units never positive on the batch
    saturated_fraction: float | None  # tanh / sigmoid / softsign: values near the asymptotes
    gradient_rms: float               # back-propagated d loss / d (probed signal), per example
    weight_gradient_norm: float
    shape_fan_in: int                 # fan_in a shape-based initializer (Keras's) uses
    real_tap_fraction: float          # mean fraction of kernel taps on real inputs (not padding)
    kernel_norm: float = math.nan     # Frobenius norm of the measured kernel
    # |d mean_loss / d W| / |W|: the step SGD takes on this kernel, relative to its size, per
    # unit of learning rate (what LARS equalizes, You et al. 2017); None for a zero kernel.
    relative_gradient: float | None = None

    def as_dict(self):
        return dataclasses.asdict(self)


def _moments(values):
    """(mean, second moment) of all values, accumulated in float64 without a float64 copy."""
    flat = np.asarray(values).ravel()
    return float(np.mean(flat, dtype=np.float64)), float(np.dot(flat, flat)) / max(flat.size, 1)


# A unit is counted dead only when it was seen this many times (examples x positions): a
# healthy unit is never positive in n samples with probability 2^-n (0.4% at 8), while at 2
# samples (a squeeze-and-excite layer on a batch of 2) a quarter of healthy units would look dead.
MIN_DEAD_SAMPLES = 8


def _dead_fraction(values):
    """Fraction of output units (last axis: units or channels) never positive on the batch;
    None when each unit was seen fewer than `MIN_DEAD_SAMPLES` times."""
    units = values.reshape(-1, values.shape[-1])
    if units.shape[0] < MIN_DEAD_SAMPLES:
        return None
    return float(np.mean(units.max(axis=0) <= 0))


def real_tap_fraction(layer):
    """Mean fraction of a convolution's kernel taps that read real inputs rather than the
    zeros of "same" padding, over output positions (1.0 for Dense, "valid" padding and
    transposed convolutions).

    Every fan-in rule (He et al. 2015, Eq. 10: n = k^2 c) assumes each tap reads a real
    input; on feature maps not much larger than the kernel, e.g. a 3x3 convolution on a
    2x2 map (4 of 9 taps), the output's variance is that fraction of what the rule
    plans for, at every such layer.
    """
    if getattr(layer, "padding", None) != "same" or "Transpose" in type(layer).__name__:
        return 1.0
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    spatial = tuple(layer.input.shape[2:] if channels_first else layer.input.shape[1:-1])
    fraction = 1.0
    for size, kernel, stride, dilation in zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate):
        if size is None:
            return 1.0
        reach = (kernel - 1) * dilation + 1
        outputs = -(-size // stride)
        before = max((outputs - 1) * stride + reach - size, 0) // 2
        taps = [sum(0 <= position * stride - before + tap * dilation < size for tap in range(kernel))
                for position in range(outputs)]
        fraction *= float(np.mean(taps)) / kernel
    return fraction


def target_stds(fan_in, fan_out):
    """The std each rule asks for: He (2 / fan_in), Glorot (2 / (fan_in + fan_out)), LeCun
    (1 / fan_in)."""
    return {"he": math.sqrt(2.0 / fan_in), "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
            "lecun": math.sqrt(1.0 / fan_in)}


def measure(model, inputs, labels, model_probes=None, from_logits=None, loss="cross_entropy"):
    """`LayerMeasurement`s of every weight layer, in forward order, and the whole-net gains.

    For a functional or Sequential model whose weight layers are Dense and convolution
    layers of its own graph. One forward pass gives every probed signal; one backward
    pass (the backend's autodiff) every back-propagated and weight gradient, of the
    cross-entropy with `labels` or, with `loss="squared_output"`, of a regressor's
    surrogate (`autodiff_gradients`). Other models: `measure_traced`.

    Returns:
        `(layers, forward_gain, backward_gain)`: forward gain = RMS of the last hidden
        weight layer's signal over the first weight layer's (embeddings left out: the
        first is the first kernel that reads them); backward gain = RMS of the
        back-propagated gradient at the first weight layer over the last hidden one's.
        The output layer is left out of the gains (its output is logits, on another
        scale by design: with He's init a linear output layer has twice the second
        moment of the ReLU outputs it reads); with one hidden weight layer both gains
        are 1 (no depth to lose signal over).
    """
    model_probes = model_probes or probes(model)
    signals = layer_activations(model, inputs, model_probes)
    backprop, weight_gradients = autodiff_gradients(model, inputs, labels, from_logits=from_logits, loss=loss)
    layers = [_measure_layer(*values) for values in zip(model_probes, signals, backprop, weight_gradients)]
    return (layers, *_gains(layers))


def measure_traced(model, inputs, loss_of_outputs):
    """`measure` for any model (nested, subclassed, with attention, embeddings or recurrent
    layers, any inputs and outputs), at its leaf weight layers in call order
    (`diagnostics.tracing`), each at its own output; `loss_of_outputs(outputs)` is the
    summed loss whose gradients are measured."""
    layers, signals, _ = trace(model, inputs)
    if not layers:
        raise ValueError(f"Model '{model.name}' called no weight layer on the batch. Received: model={model.name}")
    weights = [measured_weight(layer) for layer in layers]
    gradients, weight_gradients = traced_gradients(model, inputs, layers, [np.shape(s) for s in signals],
                                                   loss_of_outputs, [variable for _, variable, _ in weights])
    n = len(signals[0]) if np.ndim(signals[0]) else 1
    labels = weight_labels(model, layers)
    rows = [_row(layer, _own_activation(layer), name, variable, fans, signal, gradient, weight_gradient / n,
                 label=labels[id(layer)])
            for layer, (name, variable, fans), signal, gradient, weight_gradient
            in zip(layers, weights, signals, gradients, weight_gradients)]
    return (rows, *_gains(rows))


def _gains(layers):
    # Embedding tables are the net's input, not a layer the signal passes: the gains start
    # at the first kernel that reads them.
    kernels = [row for row in layers if not row.kind.endswith("Embedding")] or layers
    layers = kernels if len(kernels) >= 2 or len(layers) < 2 else layers
    first, last = layers[0], layers[-2] if len(layers) >= 2 else layers[-1]
    forward = last.signal_rms / first.signal_rms if first.signal_rms > 0 else math.inf
    backward = first.gradient_rms / last.gradient_rms if last.gradient_rms > 0 else 0.0
    return forward, backward


def _own_activation(layer):
    function = getattr(layer, "activation", None)
    return getattr(function, "__name__", "linear") if function is not None else "linear"


def _measure_layer(probe, signal, gradient, weight_gradient):
    """The `LayerMeasurement` of one probed weight layer from its signal and gradients."""
    layer = probe.weight_layer
    name = "pointwise_kernel" if hasattr(layer, "pointwise_kernel") else "kernel"
    return _row(layer, probe.activation, name, getattr(layer, name), layer_fans(layer)[name], signal,
                gradient, weight_gradient)


def _row(layer, activation, weight_name, variable, fans, signal, gradient, weight_gradient, label=None):
    kernel = keras.ops.convert_to_numpy(variable)
    mean, second = _moments(signal)
    rule = SATURATION_RULES.get(activation)
    embedding = weight_name == "embeddings" or fans.fan_in == 1
    kernel_norm = float(np.linalg.norm(kernel.astype(np.float64)))
    gradient_norm = float(np.linalg.norm(weight_gradient))
    return LayerMeasurement(
        layer=label or layer.name, kind=type(layer).__name__, activation=activation,
        fan_in=fans.fan_in, fan_out=fans.fan_out, kernel_std=float(np.std(kernel)),
        target_std=target_stds(fans.fan_in, fans.fan_out),
        signal_mean=mean, signal_std=math.sqrt(max(second - mean * mean, 0.0)),
        signal_rms=math.sqrt(second),
        dead_fraction=_dead_fraction(signal) if activation in RELU_FAMILY else None,
        saturated_fraction=(float(rule(signal).mean()) if rule is not None and activation != "relu"
                            else None),
        gradient_rms=math.sqrt(_moments(gradient)[1]),
        weight_gradient_norm=gradient_norm,
        # A lookup table has no shape-based fan to get wrong.
        shape_fan_in=fans.fan_in if embedding else compute_fans(kernel.shape).fan_in,
        real_tap_fraction=_tap_fraction(layer), kernel_norm=kernel_norm,
        relative_gradient=gradient_norm / kernel_norm if kernel_norm > 0 else None)


def _tap_fraction(layer):
    try:
        return real_tap_fraction(layer) if hasattr(layer, "kernel_size") else 1.0
    except (AttributeError, ValueError):  # a layer never called on a symbolic input (subclassed model)
        return 1.0


__all__ = ["LayerMeasurement", "measure", "measure_traced", "real_tap_fraction", "target_stds"]
