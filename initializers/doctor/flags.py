"""The doctor's findings: plain-language verdicts from its measurements, each with the
threshold it crossed (our choice, stated in every report) and its severity.

A **warning** predicts trouble in training and sets the command line's exit code; a
**note** is worth knowing but is no defect by itself (a fan mismatch that matters only to
an initializer that takes its fans from the kernel's shape; "same" padding on small
feature maps, whose cost, if it matters, shows in the gains). Which measurements decide
depends on the family (`architecture.py`): plain stacks by the gains from the first to the
last hidden weight layer (unchanged since the doctor began); residual nets by their stream;
normalized nets by the layers' relative gradients.
"""

import math

import numpy as np

WARNING, NOTE = "warning", "note"

VANISHING_GAIN = 0.1      # plain: last/first layer signal (or gradient) RMS below this: vanishing
EXPLODING_GAIN = 10.0     # ... above this: exploding
# Residual stream, last point over first (forward) or first over last (gradient; judged without
# normalization only, see `flags`). Healthy streams grow by at most ~6x (a Pre-LN transformer's,
# results/doctor); branches that each double the stream's variance reach 2^(blocks / 2).
STREAM_VANISHING = 0.01
STREAM_EXPLODING = 100.0
# Relative gradient |dL/dW| / |W|, median of the first third of the layers over the last
# third's: one learning rate then moves some layers this much faster than others (judged
# without normalization only, see `flags`).
UNEVEN_UPDATES = 100.0
DEAD_FRACTION = 0.5       # a ReLU-family layer with more than half of its units never positive
SATURATED_FRACTION = 0.5  # a tanh/sigmoid/softsign layer with more than half its values saturated
FAN_MISMATCH = 1.1        # shape-based fan_in off from the layer's own by more than 10%
PADDING_LOSS = 0.75       # a "same" convolution whose taps read real inputs less than 75% of the time
FIRST_UPDATES_STEPS = 20  # updates of the given optimizer on the batch
FIRST_UPDATES_FIT = 0.5   # ... after which the loss should be below this fraction of its start
FIRST_UPDATES_CHUNK = 8   # as many updates on mini-batches of this many examples of the batch,
COLLAPSED_SPREAD = 0.03   # ... after which the outputs' spread across examples should stay above this

# What each threshold means, as every report states it.
THRESHOLDS = {"vanishing (plain stack: forward or backward gain below)": VANISHING_GAIN,
              "exploding (plain stack: forward or backward gain above)": EXPLODING_GAIN,
              "residual stream vanishing (forward or backward stream gain below)": STREAM_VANISHING,
              "residual stream exploding (forward or backward stream gain above)": STREAM_EXPLODING,
              "uneven updates (relative gradient, first third over last third, either way, above)":
                  UNEVEN_UPDATES,
              "dead ReLU layer (fraction of units never positive above)": DEAD_FRACTION,
              "saturated layer (fraction of values saturated above)": SATURATED_FRACTION,
              "fan mismatch, a note (shape-based over layer fan_in, either way, above)": FAN_MISMATCH,
              "padding loss, a note (fraction of kernel taps on real inputs below)": PADDING_LOSS,
              f"first updates (loss after {FIRST_UPDATES_STEPS} updates over its start, above, and above "
              "the same at a tenth of the rate)": FIRST_UPDATES_FIT,
              f"collapse in the first updates (outputs' spread across examples after {FIRST_UPDATES_STEPS} updates "
              f"on mini-batches of {FIRST_UPDATES_CHUNK} over before, below)": COLLAPSED_SPREAD}

# Every kind of finding and its severity.
SEVERITY = {"vanishing_signal": WARNING, "exploding_signal": WARNING, "vanishing_gradient": WARNING,
            "exploding_gradient": WARNING, "vanishing_stream": WARNING, "exploding_stream": WARNING,
            "vanishing_stream_gradient": WARNING, "exploding_stream_gradient": WARNING,
            "uneven_updates": WARNING, "dead_relus": WARNING, "saturation": WARNING,
            "stalls_at_learning_rate": WARNING, "collapses_at_learning_rate": WARNING, "fan_mismatch": NOTE,
            "padding_loss": NOTE}


def finding(kind, layer, reason):
    return {"kind": kind, "severity": SEVERITY[kind], "layer": layer, "reason": reason}


def warnings_of(found):
    return [flag for flag in found if flag["severity"] == WARNING]


def flags(layers, forward_gain, backward_gain, family="plain", stream=None, updates=None, normalized=False):
    """Findings, each `{"kind", "severity", "layer", "reason"}` (thresholds in the text): the
    family's whole-net verdicts first (`architecture.FAMILIES`), then the first updates
    (`updates`, where measured), then each layer's findings in forward order.

    A net with normalization layers (`normalized`) is judged on its forward signal only:
    the gradients reaching weights that a normalization layer follows may grow toward the
    input (Yang et al. 2019, "A Mean Field Theory of Batch Normalization": ResNet50's by
    32x here, ResNet152's by 660x), yet such weights tune their own step, since a larger
    update grows their norm and the normalization divides it out (Arora, Li & Lyu 2019,
    "Theoretical Analysis of Auto Rate-Tuning by Batch Normalization"): neither that growth
    nor the spread of relative gradients predicts trouble there, so both are reported, not
    judged."""
    if family == "plain":
        depth = len(layers) - 1 if len(layers) >= 2 else len(layers)  # the last hidden layer (as `measure`)
        found = _gain_flags(depth, forward_gain, backward_gain)
    else:
        found = _stream_flags(stream, gradients=not normalized) if family == "residual" else []
        found += [] if normalized else _trend_flags(relative_gradient_trend(layers))
    found += _update_flags(updates)
    for row in layers:
        found += _layer_flags(row)
    return found


def relative_gradient_trend(layers):
    """Median relative gradient of the first third of the weight layers (embeddings left
    out) over the last third's, or None with fewer than three such layers or none measurable."""
    values = [row.relative_gradient for row in layers if not row.kind.endswith("Embedding")]
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if len(values) < 3:
        return None
    third = len(values) // 3
    return float(np.median(values[:third])) / float(np.median(values[-third:]))


def _gain_flags(depth, forward_gain, backward_gain):
    found = []
    if forward_gain < VANISHING_GAIN:
        found.append(finding("vanishing_signal", None, (
            f"The forward signal shrinks from layer 1 to layer {depth} by a factor {1 / forward_gain:.3g} "
            f"(RMS ratio {forward_gain:.3g} < {VANISHING_GAIN:g}): deep layers see almost nothing, and "
            "their gradients are as small.")))
    elif forward_gain > EXPLODING_GAIN:
        found.append(finding("exploding_signal", None, (
            f"The forward signal grows from layer 1 to layer {depth} by a factor {forward_gain:.3g} "
            f"(> {EXPLODING_GAIN:g}): activations saturate or overflow.")))
    if backward_gain < VANISHING_GAIN:
        found.append(finding("vanishing_gradient", None, (
            f"Back-propagated gradients shrink from layer {depth} to layer 1 by a factor "
            f"{1 / backward_gain if backward_gain > 0 else math.inf:.3g} (< {VANISHING_GAIN:g}): the first "
            "layers barely learn.")))
    elif backward_gain > EXPLODING_GAIN:
        found.append(finding("exploding_gradient", None, (
            f"Back-propagated gradients grow from layer {depth} to layer 1 by a factor {backward_gain:.3g} "
            f"(> {EXPLODING_GAIN:g}).")))
    return found


def _stream_flags(stream, gradients=True):
    if stream is None:
        return []
    found, count = [], len(stream.points)
    if stream.forward_gain > STREAM_EXPLODING:
        found.append(finding("exploding_stream", None, (
            f"The residual stream grows by a factor {stream.forward_gain:.3g} over its {count} points "
            f"(> {STREAM_EXPLODING:g}): every block adds a branch about as large as the stream, and nothing "
            "normalizes it (Zhang et al. 2019, Fixup; De & Smith 2020: scale the branches down).")))
    elif stream.forward_gain < STREAM_VANISHING:
        found.append(finding("vanishing_stream", None, (
            f"The residual stream shrinks by a factor {1 / stream.forward_gain:.3g} over its {count} points "
            f"(< {STREAM_VANISHING:g}).")))
    if not gradients or stream.backward_gain is None:
        return found
    if stream.backward_gain > STREAM_EXPLODING:
        found.append(finding("exploding_stream_gradient", None, (
            f"The gradient reaching the first of the stream's {count} points is {stream.backward_gain:.3g} "
            f"times the gradient at the last (> {STREAM_EXPLODING:g}): the first blocks take steps that much "
            "larger.")))
    elif stream.backward_gain < STREAM_VANISHING:
        found.append(finding("vanishing_stream_gradient", None, (
            f"The gradient reaching the first of the stream's {count} points is {stream.backward_gain:.3g} "
            f"of the gradient at the last (< {STREAM_VANISHING:g}): the first blocks barely learn.")))
    return found


def _trend_flags(trend):
    if trend is None or 1 / UNEVEN_UPDATES <= trend <= UNEVEN_UPDATES:
        return []
    direction = "larger" if trend > 1 else "smaller"
    factor = trend if trend > 1 else 1 / trend
    return [finding("uneven_updates", None, (
        f"The first third of the weight layers has relative gradients |dL/dW| / |W| {factor:.3g} times "
        f"{direction} than the last third's (median; > {UNEVEN_UPDATES:g}): with one learning rate some "
        "layers move that much faster than others."))]


def _update_flags(updates):
    """A warning when the outputs collapse to one output for every example in the first
    updates; another when the batch is not fitted at the given rate and a tenth of the
    rate does better: the rate is past what this initialization takes (a net that is merely
    slow at a small rate does worse still at a tenth of it)."""
    if updates is None:
        return []
    found = []
    if updates.spread_ratio is not None and updates.spread_ratio < COLLAPSED_SPREAD:
        found.append(finding("collapses_at_learning_rate", None, (
            f"In {updates.steps} updates of {updates.optimizer} at learning rate {updates.learning_rate:g} on "
            f"mini-batches of {updates.chunk}, the outputs' spread across examples fell to {updates.spread_ratio:.3g} "
            f"of its start (< {COLLAPSED_SPREAD:g}): the net gives every input the same output, its best constant "
            "guess, and training stays at chance from there. A smaller rate, warmup, or another initialization (Xiong et al. "
            "2020: Post-LN transformers; Zhu et al. 2021, GradInit).")))
    if updates.ratio <= FIRST_UPDATES_FIT or updates.ratio <= updates.smaller_rate_ratio:
        return found
    reached = ("the loss stopped being finite" if not math.isfinite(updates.ratio)
               else f"the loss fell only to {100 * updates.ratio:.0f}% of its start")
    return found + [finding("stalls_at_learning_rate", None, (
        f"In {updates.steps} updates of {updates.optimizer} at learning rate {updates.learning_rate:g} on "
        f"the batch, {reached} (a net that can train fits one batch: below {100 * FIRST_UPDATES_FIT:.0f}%), "
        f"while at a tenth of that rate it fell to {100 * updates.smaller_rate_ratio:.0f}%: this rate is past "
        "what this initialization takes in its first steps. A smaller rate, warmup, or another "
        "initialization (Xiong et al. 2020; Zhu et al. 2021, GradInit)."))]


def _layer_flags(row):
    found = []
    if row.dead_fraction is not None and row.dead_fraction > DEAD_FRACTION:
        found.append(finding("dead_relus", row.layer, (
            f"{100 * row.dead_fraction:.0f}% of the units of '{row.layer}' are never positive on this "
            f"batch (> {100 * DEAD_FRACTION:.0f}%): their gradients are zero.")))
    if row.saturated_fraction is not None and row.saturated_fraction > SATURATED_FRACTION:
        found.append(finding("saturation", row.layer, (
            f"{100 * row.saturated_fraction:.0f}% of the {row.activation} outputs of '{row.layer}' are "
            f"saturated (> {100 * SATURATED_FRACTION:.0f}%): their derivative is near zero.")))
    if row.real_tap_fraction < PADDING_LOSS:
        found.append(finding("padding_loss", row.layer, (
            f"Only {100 * row.real_tap_fraction:.0f}% of the kernel taps of '{row.layer}' read real "
            f"inputs (< {100 * PADDING_LOSS:.0f}%; the rest read the zeros of 'same' padding on a "
            "small feature map): every fan-in rule over-counts its inputs, and the signal's variance "
            "shrinks by about that fraction here, whatever the init; if that matters, the gains show it. "
            "Larger inputs (the model's real input size) or 'valid' padding avoid it; LSUV measures and "
            "compensates it.")))
    if row.shape_fan_in > FAN_MISMATCH * row.fan_in or row.fan_in > FAN_MISMATCH * row.shape_fan_in:
        found.append(finding("fan_mismatch", row.layer, (
            f"'{row.layer}' ({row.kind}) reads {row.fan_in} inputs per output, but an initializer that "
            f"computes fans from the kernel shape (Keras's built-ins) uses fan_in {row.shape_fan_in}: "
            f"its std would be off by sqrt({row.shape_fan_in}/{row.fan_in}) = "
            f"{math.sqrt(row.shape_fan_in / row.fan_in):.3g}. A note: it matters only to such an "
            "initializer (this package's take fans from the layer), and where it does, the gains show it.")))
    return found
