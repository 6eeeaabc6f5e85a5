"""The residual stream of one model state: its RMS and its gradient's at every stream point.

The stream points are the `Architecture`'s (`architecture.py`): residual merges or the
outputs of repeated blocks, read in the order the model calls them. The forward stream gain
is the RMS at the last point over the first (Yang & Schoenholz 2017: a residual net without
normalization whose branches add a variance comparable to the stream's grows exponentially
with depth; with normalized branches, as in a Pre-LN transformer or a BatchNorm ResNet, it
grows at most polynomially); the backward stream gain is the gradient RMS at the first
point over the last: how much larger the gradient reaching the first blocks is than the
gradient at the top.
"""

import dataclasses
import math

import numpy as np

from initializers.diagnostics.tracing import trace, traced_gradients


@dataclasses.dataclass
class StreamMeasurement:
    """The stream at each point, in call order: names, RMS, gradient RMS, and both gains."""

    points: list
    rms: list
    gradient_rms: list
    forward_gain: float
    backward_gain: float | None  # None: no gradient reaches the stream (a zero readout)

    def as_dict(self):
        return dataclasses.asdict(self)


def _rms(values):
    flat = np.asarray(values, dtype=np.float64).ravel()
    return float(np.sqrt(np.dot(flat, flat) / max(flat.size, 1)))


def _name(point):
    return getattr(point, "name", type(point).__name__)


def measure_stream(model, inputs, points, loss_of_outputs):
    """`StreamMeasurement` of `model` at `points` (layers or Keras operations) on `inputs`,
    gradients of the summed loss `loss_of_outputs(outputs)`; None when fewer than two points
    were called."""
    called, outputs, _ = trace(model, inputs, list(points))
    if len(called) < 2:
        return None
    gradients, _ = traced_gradients(model, inputs, called, [np.shape(o) for o in outputs], loss_of_outputs, [])
    rms = [_rms(o) for o in outputs]
    gradient_rms = [_rms(g) for g in gradients]
    forward = rms[-1] / rms[0] if rms[0] > 0 else math.inf
    if not any(gradient_rms):
        # No gradient reaches the stream at all: its readout is zero at initialization (Fixup,
        # Zhang et al. 2019), so the first update moves the readout alone. Neither vanishing
        # nor exploding: the backward gain is undefined (None), and the first updates judge.
        backward = None
    else:
        backward = gradient_rms[0] / gradient_rms[-1] if gradient_rms[-1] > 0 else math.inf
    return StreamMeasurement([_name(p) for p in called], rms, gradient_rms, forward, backward)


__all__ = ["StreamMeasurement", "measure_stream"]
