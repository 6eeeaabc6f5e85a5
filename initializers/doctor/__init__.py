"""The init doctor: does a model's signal survive its initialization, and what would fix it?

`examine(model, batch)` measures, for every weight layer in forward order, the kernel's
std against what He (2015), Glorot & Bengio (2010) and LeCun ask for with the layer's
own fans, the post-activation signal (mean, std, dead ReLU units, saturated tanh /
sigmoid units), the back-propagated gradient and the weight gradient, and the
whole-net forward and backward gains (last layer over first). It flags vanishing or
exploding signals and gradients, dead and saturated layers and fan mismatches, each in
plain language with its threshold, and convolutions whose "same" padding hides part
of their kernel on small feature maps (where every fan-in rule over-counts the
inputs). The same measurements are made for candidate
initializations, each drawn on a copy: the model itself is never changed.

    from initializers.doctor import examine
    report = examine(model, images[:8])
    print(report.to_markdown()); report.plot("doctor.png")

Command line: `python -m initializers.doctor MODEL --out DIR` (see `--help`).
"""

import dataclasses
import json
import math
import pathlib

import keras
import numpy as np

from initializers.jsonio import finite_or_none
from initializers.diagnostics.probing import probes
from initializers.doctor.examine import (
    DEAD_FRACTION,
    EXPLODING_GAIN,
    FAN_MISMATCH,
    PADDING_LOSS,
    SATURATED_FRACTION,
    VANISHING_GAIN,
    flags,
    measure,
)
from initializers.lsuv import lsuv
from initializers.reinit import initialize_weights, unsupported_layers

DEFAULT_METHODS = ("current", "auto", "he", "glorot", "orthogonal", "lsuv")
# LSUV is left out of the default comparison of models with BatchNormalization: at train
# time BatchNorm divides every batch by its own std, so LSUV's scales hardly matter there
# (Mishkin & Matas 2016), and its one forward pass per layer dominates the cost of
# examining such nets (ResNet50 at 224x224: 43 s of LSUV vs 5 s per other method).
# The recommendation: the fewest flags, then this order (data-free rules before LSUV, the
# papers' rules first), then gains closest to 1.
_PREFERENCE = ("he", "auto", "glorot", "lecun", "orthogonal", "lsuv")


@dataclasses.dataclass
class MethodResult:
    """The measurements of one initialization (`"current"`: the model as given)."""

    method: str
    layers: list
    forward_gain: float
    backward_gain: float
    flags: list

    def gain_error(self):
        """How far the forward and backward gains are from 1, on a log scale."""
        return sum(abs(math.log(g)) if 0 < g < math.inf else math.inf
                   for g in (self.forward_gain, self.backward_gain))


@dataclasses.dataclass
class DoctorReport:
    """What `examine` found; `.to_markdown()`, `.to_json()`, `.plot(path)`."""

    model: str
    batch_shape: tuple
    results: dict
    recommended: str | None
    cannot_judge: list
    thresholds: dict
    notes: list = dataclasses.field(default_factory=list)
    recommended_data_free: str | None = None  # the best rule that needs no data (not LSUV)

    @property
    def flags(self):
        """The flags of the model as given (empty: nothing found)."""
        current = self.results.get("current")
        return current.flags if current else []

    def to_dict(self):
        return {"model": self.model, "batch_shape": list(self.batch_shape), "recommended": self.recommended,
                "recommended_data_free": self.recommended_data_free,
                "flagged": bool(self.flags), "thresholds": self.thresholds, "cannot_judge": self.cannot_judge,
                "notes": self.notes,
                "methods": {name: {"forward_gain": r.forward_gain, "backward_gain": r.backward_gain,
                                   "flags": r.flags, "layers": [row.as_dict() for row in r.layers]}
                            for name, r in self.results.items()}}

    def to_json(self, path=None):
        text = json.dumps(finite_or_none(self.to_dict()), indent=2)
        if path is not None:
            pathlib.Path(path).write_text(text + "\n")
        return text

    def to_markdown(self):
        lines = [f"# Init doctor: {self.model}", "",
                 f"Batch of shape {tuple(self.batch_shape)}; every weight layer in forward order; each "
                 "candidate initialization drawn on a copy of the model.", ""]
        if "current" in self.results:
            if self.flags:
                lines += ["## Findings (the model as given)", ""]
                by_kind = {}
                for flag in self.flags:
                    by_kind.setdefault(flag["kind"], []).append(flag)
                for kind, found in by_kind.items():
                    others = [flag["layer"] for flag in found[1:]]
                    also = f" The same for {len(others)} more: {', '.join(others)}." if others else ""
                    lines.append(f"- **{kind}**: {found[0]['reason']}{also}")
            else:
                lines += ["## Findings (the model as given)", "", "Nothing flagged."]
            lines.append("")
        if self.recommended:
            lines += [f"**Recommended:** `{self.recommended}` (the fewest flags; among equals a data-free "
                      "rule before LSUV, He first; then gains closest to 1).", ""]
        if self.recommended_data_free and self.recommended_data_free != self.recommended:
            best = self.results[self.recommended_data_free]
            kinds = ", ".join(sorted({f["kind"] for f in best.flags})) or "nothing"
            lines += [f"**Best rule without data:** `{self.recommended_data_free}` (forward gain "
                      f"{best.forward_gain:.3g}, backward gain {best.backward_gain:.3g}; still flagged: "
                      f"{kinds}), for code that cannot run a batch through the model at initialization.",
                      ""]
        lines += ["## Initializations compared", "",
                  "| method | forward gain (last hidden / first layer signal RMS) | backward gain "
                  "(first / last hidden layer gradient RMS) | flags |", "|---|---|---|---|"]
        for name, result in self.results.items():
            kinds = ", ".join(sorted({f["kind"] for f in result.flags})) or "none"
            lines.append(f"| {name} | {result.forward_gain:.3g} | {result.backward_gain:.3g} | {kinds} |")
        shown = [name for name in ("current", self.recommended) if name in self.results]
        lines += ["", f"## Per layer ({' vs '.join(shown)})", "",
                  "| layer | activation | fan_in | fan_out | kernel std | He / Glorot target | "
                  + " | ".join(f"signal std ({n}) | gradient RMS ({n})" for n in shown) + " |",
                  "|---" * (6 + 2 * len(shown)) + "|"]
        for index, row in enumerate(self.results[shown[0]].layers):
            cells = []
            for name in shown:
                other = self.results[name].layers[index]
                cells += [f"{other.signal_std:.3g}", f"{other.gradient_rms:.3g}"]
            lines.append(f"| {row.layer} | {row.activation} | {row.fan_in} | {row.fan_out} | "
                         f"{row.kernel_std:.3g} | {row.target_std['he']:.3g} / {row.target_std['glorot']:.3g} | "
                         + " | ".join(cells) + " |")
        lines += ["", "## Thresholds", ""] + [f"- {key}: {value}" for key, value in self.thresholds.items()]
        lines += ["", "## What the doctor cannot judge", ""] + [f"- {note}" for note in self.cannot_judge]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def plot(self, path=None):
        """Signal RMS and back-propagated gradient RMS per layer, one line per method (log scale)."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 4.2))
        axes = figure.subplots(1, 2)
        for index, (name, result) in enumerate(self.results.items()):
            x = np.arange(1, len(result.layers) + 1)
            style = dict(lw=2.2 if name == "current" else 1.3, ls="-" if name == "current" else "--",
                         color=f"C{index}", label=name)
            axes[0].plot(x, [max(r.signal_rms, 1e-30) for r in result.layers], **style)
            axes[1].plot(x, [max(r.gradient_rms, 1e-30) for r in result.layers], **style)
        for axis, label in zip(axes, ("signal RMS (post-activation)", "back-propagated gradient RMS")):
            axis.set_yscale("log")
            axis.set_xlabel("weight layer (forward order)")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3, which="both")
        axes[0].legend(fontsize=8)
        figure.suptitle(f"Init doctor: {self.model}, batch {tuple(self.batch_shape)}", fontsize=10)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=150)
        return figure


def _copy(model):
    """A copy of the model with its own weights (the model itself stays untouched)."""
    try:
        copy = keras.models.clone_model(model)
    except Exception as error:  # clone_model raises several types for custom models
        raise ValueError(f"The doctor draws candidate initializations on a copy of the model, and "
                         f"`keras.models.clone_model` cannot copy this one ({error}). Received: "
                         f"model={model.name}") from None
    copy.set_weights(model.get_weights())
    return copy


# Below this many units or channels in some hidden weight layer, one draw's gains are noisy.
NARROW_WIDTH = 64


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


def examine(model, batch, labels=None, *, methods=None, seed=0, progress=None):
    """Measures the signal propagation of `model` at initialization, and of candidate inits.

    Args:
        model: a built functional or Sequential model with a `(batch, classes)` output.
        batch: inputs (numpy array or tensor).
        labels: integer labels of `batch` for the cross-entropy whose gradients are
            measured (None: random labels drawn with `seed`, what initialization-time
            gradients look like before the net knows anything).
        methods: "current" (the model as given) and any of `initializers.get`'s names,
            "auto" or "lsuv"; each is drawn on a copy of the model with `seed`. Default:
            `DEFAULT_METHODS`, without "lsuv" for a model with BatchNormalization.
        seed: seed of the candidate draws and of random labels.
        progress: optional `str -> None` called before each method (e.g. `print`).

    Returns:
        A `DoctorReport`.

    Raises:
        ValueError: an unbuilt model, an output that is not `(batch, classes)`, an unknown
            method (the message lists the valid names), or a model the doctor cannot copy.
    """
    if not getattr(model, "built", False):
        raise ValueError(f"Model '{model.name}' is not built; give it an input shape. Received: model={model.name}")
    model_probes = probes(model)  # validates: weight layers in the model's own graph
    unsupported = unsupported_layers(model)
    if unsupported:
        raise ValueError(f"unsupported layer {unsupported[0]}: the doctor measures models whose "
                         "weights are Dense and convolution kernels, normalization and PReLU "
                         f"(all unsupported: {', '.join(unsupported)}). Received: model={model.name}")
    output_shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else ()
    if len(output_shape) != 2:
        raise ValueError("The doctor measures gradients of a cross-entropy on a (batch, classes) output. "
                         f"Received: output shape {output_shape}")
    classes = output_shape[1]
    if labels is None:
        labels = np.random.default_rng(seed).integers(0, classes, len(batch))
    notes = []
    from_logits = None  # decided by the last layer: logits (linear) or softmax probabilities
    if model_probes[-1].activation not in ("linear", "softmax"):
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
        target = model if method == "current" else _copy(model)
        if method == "lsuv":
            lsuv(target, batch, seed=seed, on_constant_output="skip")
        elif method != "current":
            initialize_weights(target, method, seed=seed)
        layers, forward, backward = measure(target, batch, labels, from_logits=from_logits)
        results[method] = MethodResult(method, layers, forward, backward, flags(layers, forward, backward))

    def best(candidates):
        return min(candidates, key=lambda n: (len(results[n].flags), _rank(n),
                                              results[n].gain_error())) if candidates else None

    recommended = best([name for name in results if name != "current"])
    recommended_data_free = best([name for name in results if name not in ("current", "lsuv")])
    thresholds = {"vanishing (forward or backward gain below)": VANISHING_GAIN,
                  "exploding (forward or backward gain above)": EXPLODING_GAIN,
                  "dead ReLU layer (fraction of units never positive above)": DEAD_FRACTION,
                  "saturated layer (fraction of values saturated above)": SATURATED_FRACTION,
                  "fan mismatch (shape-based over layer fan_in, either way, above)": FAN_MISMATCH,
                  "padding loss (fraction of kernel taps on real inputs below)": PADDING_LOSS}
    return DoctorReport(model.name, tuple(np.shape(batch)), results, recommended,
                        _cannot_judge(model, model_probes), thresholds, notes, recommended_data_free)


def _rank(method):
    return _PREFERENCE.index(method) if method in _PREFERENCE else len(_PREFERENCE)


__all__ = ["DEFAULT_METHODS", "DoctorReport", "MethodResult", "examine"]
