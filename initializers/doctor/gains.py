"""How much signal a net keeps at initialization, over several draws of its weights.

One draw of a narrow deep net says little: its gains drift from draw to draw (Hanin &
Rolnick 2018). `initialization_gains` builds the net afresh for each draw and reports
the doctor's whole-net gains (`measure`) as median and range over the draws. Comparing
a scaled-down net's gains with those of the net it stands for tells whether the small
net loses signal where the big one does and only there (the "fidelity" of a
miniature; e.g. He et al. 2015's 22- and 30-layer nets at 224x224 against a CPU-sized
copy on 32x32 images).
"""

import dataclasses
import gc

import keras
import numpy as np

from initializers.doctor.measure import measure


@dataclasses.dataclass(frozen=True)
class Spread:
    """A gain over draws: median, smallest, largest and each draw's value."""

    median: float
    low: float
    high: float
    per_draw: tuple

    @classmethod
    def of(cls, values):
        values = tuple(float(v) for v in values)
        return cls(float(np.median(values)), min(values), max(values), values)

    def as_dict(self):
        return {"median": self.median, "low": self.low, "high": self.high, "per_draw": list(self.per_draw)}

    @classmethod
    def from_dict(cls, record):
        return cls(record["median"], record["low"], record["high"], tuple(record["per_draw"]))


def initialization_gains(build_model, *, draws=3, seed=0, batch_size=8):
    """Forward and backward gains at initialization of `draws` fresh builds of a net.

    For draw d: `keras.utils.set_random_seed(seed + d)`, `model = build_model()`, inputs
    x ~ N(0, 1) of the model's input shape (`batch_size` examples), labels uniform over
    the output's classes, then the doctor's `measure` with the output taken as logits:

        forward gain  = RMS(last hidden weight layer's output) / RMS(first weight layer's output)
        backward gain = RMS(d loss / d first layer's output) / RMS(d loss / d last hidden one's)

    (post-activation signals; the output layer is left out, as in `measure`). A net
    that keeps its signal, such as a wide ReLU MLP with He's init (He et al. 2015, Eq.
    10), has both gains near 1; with Var[w] = 1/fan_in each ReLU layer halves the
    second moment, so L such layers give a forward gain near 2^(-(L-1)/2).

    Example:

    >>> import keras
    >>> from initializers import HeNormal
    >>> def build():
    ...     inputs = keras.Input((512,))
    ...     x = inputs
    ...     for _ in range(10):
    ...         x = keras.layers.Dense(512, activation="relu", kernel_initializer=HeNormal())(x)
    ...     return keras.Model(inputs, keras.layers.Dense(10)(x))
    >>> gains = initialization_gains(build, draws=3)
    >>> 0.8 < gains["forward"].median < 1.25
    True

    Args:
        build_model: `() -> keras.Model`: builds the net with the initializer under
            test (each call draws new weights from the global Keras seed); a single
            input, a `(batch, classes)` output.
        draws: builds to measure.
        seed: seed of the first draw; inputs and labels of draw d come from seed + d too.
        batch_size: examples in the measured batch.

    Returns:
        `{"forward": Spread, "backward": Spread}`.
    """
    if not (isinstance(draws, int) and draws >= 1):
        raise ValueError(f"`draws` must be a positive int. Received: draws={draws!r}")
    forward, backward = [], []
    for draw in range(draws):
        keras.utils.set_random_seed(seed + draw)
        model = build_model()
        rng = np.random.default_rng(seed + draw)
        inputs = rng.standard_normal((batch_size, *model.inputs[0].shape[1:])).astype("float32")
        classes = model.outputs[0].shape[-1]
        labels = rng.integers(0, classes, batch_size)
        loss = "squared_output" if classes == 1 else "cross_entropy"  # as the doctor does for a regressor
        _, forward_gain, backward_gain = measure(model, inputs, labels, from_logits=True, loss=loss)
        forward.append(forward_gain)
        backward.append(backward_gain)
        del model
        gc.collect()  # a paper-size net holds GBs of weights; one at a time
    return {"forward": Spread.of(forward), "backward": Spread.of(backward)}


__all__ = ["Spread", "initialization_gains"]
