"""The measurements of the init doctor: one model state, every weight layer, one batch."""

import dataclasses
import math

import keras
import numpy as np

from initializers._fans import compute_fans, layer_fans
from initializers.diagnostics.gradients import autodiff_gradients
from initializers.diagnostics.probing import Probe, layer_activations, probes
from initializers.diagnostics.statistics import SATURATION_RULES

# Thresholds of the flags (our choice, stated in every report).
VANISHING_GAIN = 0.1      # last/first layer signal (or gradient) RMS below this: vanishing
EXPLODING_GAIN = 10.0     # ... above this: exploding
DEAD_FRACTION = 0.5       # a ReLU-family layer with more than half of its units never positive
SATURATED_FRACTION = 0.5  # a tanh/sigmoid/softsign layer with more than half its values saturated
FAN_MISMATCH = 1.1        # shape-based fan_in off from the layer's own by more than 10%
PADDING_LOSS = 0.75       # a "same" convolution whose taps read real inputs less than 75% of the time
RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish")


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

    def as_dict(self):
        return dataclasses.asdict(self)


def _moments(values):
    """(mean, second moment) of all values, accumulated in float64 without a float64 copy."""
    flat = np.asarray(values).ravel()
    return float(np.mean(flat, dtype=np.float64)), float(np.dot(flat, flat)) / max(flat.size, 1)


def _dead_fraction(values):
    """Fraction of output units (last axis: units or channels) never positive on the batch."""
    units = values.reshape(-1, values.shape[-1])
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


def measure(model, inputs, labels, model_probes=None, from_logits=None):
    """`LayerMeasurement`s of every weight layer, in forward order, and the whole-net gains.

    One forward pass gives every probed signal; one backward pass (the backend's autodiff)
    every back-propagated and weight gradient.

    Returns:
        `(layers, forward_gain, backward_gain)`: forward gain = RMS of the last hidden
        weight layer's signal over the first weight layer's; backward gain = RMS of the
        back-propagated gradient at the first weight layer over the last hidden one's.
        The output layer is left out of the gains (its output is logits, on another
        scale by design: with He's init a linear output layer has twice the second
        moment of the ReLU outputs it reads).
    """
    model_probes = model_probes or probes(model)
    signals = layer_activations(model, inputs, model_probes)
    backprop, weight_gradients = autodiff_gradients(model, inputs, labels, from_logits=from_logits)
    layers = []
    for probe, signal, gradient, weight_gradient in zip(model_probes, signals, backprop, weight_gradients):
        layer = probe.weight_layer
        name = "pointwise_kernel" if hasattr(layer, "pointwise_kernel") else "kernel"
        fans = layer_fans(layer)[name]
        kernel = keras.ops.convert_to_numpy(getattr(layer, name))
        mean, second = _moments(signal)
        rule = SATURATION_RULES.get(probe.activation)
        layers.append(LayerMeasurement(
            layer=layer.name, kind=type(layer).__name__, activation=probe.activation,
            fan_in=fans.fan_in, fan_out=fans.fan_out, kernel_std=float(np.std(kernel)),
            target_std=target_stds(fans.fan_in, fans.fan_out),
            signal_mean=mean, signal_std=math.sqrt(max(second - mean * mean, 0.0)),
            signal_rms=math.sqrt(second),
            dead_fraction=_dead_fraction(signal) if probe.activation in RELU_FAMILY else None,
            saturated_fraction=(float(rule(signal).mean()) if rule is not None and probe.activation != "relu"
                                else None),
            gradient_rms=math.sqrt(_moments(gradient)[1]),
            weight_gradient_norm=float(np.linalg.norm(weight_gradient)),
            shape_fan_in=compute_fans(kernel.shape).fan_in, real_tap_fraction=real_tap_fraction(layer)))
    first, last = layers[0], layers[-2] if len(layers) >= 3 else layers[-1]
    forward = last.signal_rms / first.signal_rms if first.signal_rms > 0 else math.inf
    backward = first.gradient_rms / last.gradient_rms if last.gradient_rms > 0 else 0.0
    return layers, forward, backward


def flags(layers, forward_gain, backward_gain):
    """Plain-language findings, each `{"kind", "layer", "reason"}` (thresholds in the text)."""
    found = []
    depth = len(layers) - 1 if len(layers) >= 3 else len(layers)  # the last hidden layer
    if forward_gain < VANISHING_GAIN:
        found.append({"kind": "vanishing_signal", "layer": None, "reason": (
            f"The forward signal shrinks from layer 1 to layer {depth} by a factor {1 / forward_gain:.3g} "
            f"(RMS ratio {forward_gain:.3g} < {VANISHING_GAIN:g}): deep layers see almost nothing, and "
            "their gradients are as small.")})
    elif forward_gain > EXPLODING_GAIN:
        found.append({"kind": "exploding_signal", "layer": None, "reason": (
            f"The forward signal grows from layer 1 to layer {depth} by a factor {forward_gain:.3g} "
            f"(> {EXPLODING_GAIN:g}): activations saturate or overflow.")})
    if backward_gain < VANISHING_GAIN:
        found.append({"kind": "vanishing_gradient", "layer": None, "reason": (
            f"Back-propagated gradients shrink from layer {depth} to layer 1 by a factor "
            f"{1 / backward_gain if backward_gain > 0 else math.inf:.3g} (< {VANISHING_GAIN:g}): the first "
            "layers barely learn.")})
    elif backward_gain > EXPLODING_GAIN:
        found.append({"kind": "exploding_gradient", "layer": None, "reason": (
            f"Back-propagated gradients grow from layer {depth} to layer 1 by a factor {backward_gain:.3g} "
            f"(> {EXPLODING_GAIN:g}).")})
    for row in layers:
        if row.dead_fraction is not None and row.dead_fraction > DEAD_FRACTION:
            found.append({"kind": "dead_relus", "layer": row.layer, "reason": (
                f"{100 * row.dead_fraction:.0f}% of the units of '{row.layer}' are never positive on this "
                f"batch (> {100 * DEAD_FRACTION:.0f}%): their gradients are zero.")})
        if row.saturated_fraction is not None and row.saturated_fraction > SATURATED_FRACTION:
            found.append({"kind": "saturation", "layer": row.layer, "reason": (
                f"{100 * row.saturated_fraction:.0f}% of the {row.activation} outputs of '{row.layer}' are "
                f"saturated (> {100 * SATURATED_FRACTION:.0f}%): their derivative is near zero.")})
        if row.real_tap_fraction < PADDING_LOSS:
            found.append({"kind": "padding_loss", "layer": row.layer, "reason": (
                f"Only {100 * row.real_tap_fraction:.0f}% of the kernel taps of '{row.layer}' read real "
                f"inputs (< {100 * PADDING_LOSS:.0f}%; the rest read the zeros of 'same' padding on a "
                "small feature map): every fan-in rule over-counts its inputs, and the signal's variance "
                "shrinks by about that fraction here, whatever the init. Larger inputs or 'valid' "
                "padding avoid it; LSUV measures and compensates it.")})
        if row.shape_fan_in > FAN_MISMATCH * row.fan_in or row.fan_in > FAN_MISMATCH * row.shape_fan_in:
            found.append({"kind": "fan_mismatch", "layer": row.layer, "reason": (
                f"'{row.layer}' ({row.kind}) reads {row.fan_in} inputs per output, but an initializer that "
                f"computes fans from the kernel shape (Keras's built-ins) uses fan_in {row.shape_fan_in}: "
                f"its std is off by sqrt({row.shape_fan_in}/{row.fan_in}) = "
                f"{math.sqrt(row.shape_fan_in / row.fan_in):.3g}. This package's initializers take fans "
                "from the layer.")})
    return found


__all__ = ["LayerMeasurement", "Probe", "flags", "measure", "target_stds"]
