"""The doctor's flags: plain-language findings from its measurements, each with the
threshold it crossed (our choice, stated in every report)."""

import math

VANISHING_GAIN = 0.1      # last/first layer signal (or gradient) RMS below this: vanishing
EXPLODING_GAIN = 10.0     # ... above this: exploding
DEAD_FRACTION = 0.5       # a ReLU-family layer with more than half of its units never positive
SATURATED_FRACTION = 0.5  # a tanh/sigmoid/softsign layer with more than half its values saturated
FAN_MISMATCH = 1.1        # shape-based fan_in off from the layer's own by more than 10%
PADDING_LOSS = 0.75       # a "same" convolution whose taps read real inputs less than 75% of the time

# What each threshold means, as every report states it.
THRESHOLDS = {"vanishing (forward or backward gain below)": VANISHING_GAIN,
              "exploding (forward or backward gain above)": EXPLODING_GAIN,
              "dead ReLU layer (fraction of units never positive above)": DEAD_FRACTION,
              "saturated layer (fraction of values saturated above)": SATURATED_FRACTION,
              "fan mismatch (shape-based over layer fan_in, either way, above)": FAN_MISMATCH,
              "padding loss (fraction of kernel taps on real inputs below)": PADDING_LOSS}


def flags(layers, forward_gain, backward_gain):
    """Plain-language findings, each `{"kind", "layer", "reason"}` (thresholds in the text):
    the whole net's gains first, then each layer's findings in forward order."""
    depth = len(layers) - 1 if len(layers) >= 2 else len(layers)  # the last hidden layer (as `measure`)
    found = _gain_flags(depth, forward_gain, backward_gain)
    for row in layers:
        found += _layer_flags(row)
    return found


def _gain_flags(depth, forward_gain, backward_gain):
    found = []
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
    return found


def _layer_flags(row):
    found = []
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
