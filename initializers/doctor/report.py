"""The doctor's report: what `examine` found, as markdown, JSON and a figure."""

import dataclasses
import json
import math
import pathlib

import numpy as np

from initializers.doctor.flags import NOTE, WARNING, relative_gradient_trend
from initializers.jsonio import finite_or_none


@dataclasses.dataclass
class MethodResult:
    """The measurements of one initialization (`"current"`: the model as given)."""

    method: str
    layers: list
    forward_gain: float
    backward_gain: float
    flags: list                      # findings, each with its severity (`flags.flags`)
    merges: list = dataclasses.field(default_factory=list)  # `diagnostics.tracing.merge_scales`
    stream: object = None            # `stream.StreamMeasurement` of a residual net
    updates: object = None           # `updates.UpdatesMeasurement`, where an optimizer was given

    @property
    def warnings(self):
        return [flag for flag in self.flags if flag["severity"] == WARNING]

    @property
    def relative_gradient_trend(self):
        return relative_gradient_trend(self.layers)

    def gain_error(self):
        """How far the forward and backward gains (of the stream, for a residual net) are
        from 1, on a log scale."""
        gains = ((self.stream.forward_gain, self.stream.backward_gain) if self.stream is not None
                 else (self.forward_gain, self.backward_gain))
        # An undefined gain (no gradient reaches a zero-readout stream: Fixup) counts as 1.
        return sum(0.0 if g is None else abs(math.log(g)) if 0 < g < math.inf else math.inf for g in gains)

    def to_dict(self):
        return {"forward_gain": self.forward_gain, "backward_gain": self.backward_gain,
                "relative_gradient_trend": self.relative_gradient_trend, "flags": self.flags,
                "warnings": [flag["kind"] for flag in self.warnings],
                "layers": [row.as_dict() for row in self.layers], "merges": self.merges,
                "stream": self.stream.as_dict() if self.stream is not None else None,
                "updates": self.updates.as_dict() if self.updates is not None else None}


@dataclasses.dataclass
class DoctorReport:
    """What `examine` found; `.to_markdown()`, `.to_json()`, `.plot(path)`."""

    model: str
    batch_shape: tuple
    results: dict
    recommended: str | None          # "current": keep the current initialization
    cannot_judge: list
    thresholds: dict
    notes: list = dataclasses.field(default_factory=list)
    recommended_data_free: str | None = None  # the best rule that needs no data (not LSUV)
    prefers_data: bool = False  # LSUV first among equals: `auto`'s records announce drift
    family: str = "plain"       # `architecture.FAMILIES`
    architecture: str = ""      # how the doctor read the model, one sentence

    @property
    def flags(self):
        """The findings for the model as given, warnings and notes (empty: nothing found)."""
        current = self.results.get("current")
        return current.flags if current else []

    @property
    def warnings(self):
        """The warnings for the model as given: what sets the command line's exit code."""
        return [flag for flag in self.flags if flag["severity"] == WARNING]

    def to_dict(self):
        return {"model": self.model, "batch_shape": list(self.batch_shape), "family": self.family,
                "architecture": self.architecture, "recommended": self.recommended,
                "recommended_data_free": self.recommended_data_free,
                "flagged": bool(self.warnings), "warnings": [flag["kind"] for flag in self.warnings],
                "thresholds": self.thresholds, "cannot_judge": self.cannot_judge, "notes": self.notes,
                "methods": {name: result.to_dict() for name, result in self.results.items()}}

    def to_json(self, path=None):
        text = json.dumps(finite_or_none(self.to_dict()), indent=2)
        if path is not None:
            pathlib.Path(path).write_text(text + "\n")
        return text

    def to_markdown(self):
        lines = [f"# Init doctor: {self.model}", "",
                 f"Batch of shape {tuple(self.batch_shape)}; every weight layer in forward order; each "
                 "candidate initialization drawn on the model, measured, and undone. Read as "
                 f"{self.architecture}.", ""]
        lines += self._findings_lines() + self._recommendation_lines() + self._comparison_lines()
        lines += self._stream_lines() + self._per_layer_lines() + self._merge_lines()
        lines += ["", "## Thresholds", ""] + [f"- {key}: {value}" for key, value in self.thresholds.items()]
        lines += ["", "## What the doctor cannot judge", ""] + [f"- {note}" for note in self.cannot_judge]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _findings_lines(self):
        """The model-as-given's findings, warnings first, one line per kind."""
        if "current" not in self.results:
            return []
        lines = ["## Findings (the model as given)", ""]
        if not self.warnings:
            lines += ["No warnings.", ""]
        for severity, title in ((WARNING, "Warnings (each predicts trouble in training; they set the exit "
                                          "code)"), (NOTE, "Notes (worth knowing, no defect by themselves)")):
            by_kind = {}
            for flag in self.flags:
                if flag["severity"] == severity:
                    by_kind.setdefault(flag["kind"], []).append(flag)
            if not by_kind:
                continue
            lines += [f"{title}:", ""]
            for kind, found in by_kind.items():
                others = [flag["layer"] for flag in found[1:]]
                also = f" The same for {len(others)} more: {', '.join(others)}." if others else ""
                lines.append(f"- **{kind}**: {found[0]['reason']}{also}")
            lines.append("")
        return lines

    def _recommendation_lines(self):
        lines = []
        if self.recommended == "current":
            lines += ["**Recommended:** keep the current initialization (no warnings).", ""]
        elif self.recommended:
            order = ("LSUV first, since no data-free rule keeps this net's activations (see the notes)"
                     if self.prefers_data else "a data-free rule before LSUV, He first")
            lines += [f"**Recommended:** `{self.recommended}` (the fewest warnings; among equals {order}; then "
                      "gains closest to 1).", ""]
        elif self.warnings and len(self.results) > 1:
            lines += ["**No recommendation:** no initialization compared does better than the model as given "
                      "(fewer warnings, or as many with gains closer to 1), so the trouble is not one the "
                      "initialization's scale fixes (look at the learning rate, the optimizer, the architecture).",
                      ""]
        if self.recommended_data_free and self.recommended_data_free != self.recommended:
            best = self.results[self.recommended_data_free]
            kinds = ", ".join(sorted({f["kind"] for f in best.warnings})) or "nothing"
            lines += [f"**Best rule without data:** `{self.recommended_data_free}` (forward gain "
                      f"{best.forward_gain:.3g}, backward gain {best.backward_gain:.3g}; still warned of: "
                      f"{kinds}), for code that cannot run a batch through the model at initialization.",
                      ""]
        return lines

    def _comparison_lines(self):
        residual = any(r.stream is not None for r in self.results.values())
        updates = any(r.updates is not None for r in self.results.values())
        header = ["method", "forward gain (last hidden / first layer signal RMS)",
                  "backward gain (first / last hidden layer gradient RMS)",
                  "relative gradient, first third / last third"]
        header += ["stream: forward / backward gain"] if residual else []
        header += ["first updates: loss after / before (at a tenth of the rate); outputs' spread after / before, "
                   "on mini-batches"] if updates else []
        lines = ["## Initializations compared", "", "| " + " | ".join(header + ["warnings", "notes"]) + " |",
                 "|---" * (len(header) + 2) + "|"]
        for name, result in self.results.items():
            trend = result.relative_gradient_trend
            cells = [name, f"{result.forward_gain:.3g}", f"{result.backward_gain:.3g}",
                     f"{trend:.3g}" if trend is not None else "-"]
            if residual:
                stream = result.stream
                backward = "-" if stream is None or stream.backward_gain is None else f"{stream.backward_gain:.3g}"
                cells.append(f"{stream.forward_gain:.3g} / {backward}" if stream else "-")
            if updates:
                cells.append(_updates_cell(result.updates))
            warned = ", ".join(sorted({f["kind"] for f in result.warnings})) or "none"
            noted = ", ".join(sorted({f["kind"] for f in result.flags if f["severity"] == NOTE})) or "none"
            lines.append("| " + " | ".join(cells + [warned, noted]) + " |")
        return lines

    def _stream_lines(self):
        """The residual stream, point by point: RMS and gradient RMS, as given and recommended."""
        shown = [name for name in self._shown() if self.results[name].stream]
        if not shown:
            return []
        points = self.results[shown[0]].stream.points
        lines = ["", f"## Residual stream ({' vs '.join(shown)})", "",
                 "| point | " + " | ".join(f"RMS ({n}) | gradient RMS ({n})" for n in shown) + " |",
                 "|---" * (1 + 2 * len(shown)) + "|"]
        for index, point in enumerate(points):
            cells = []
            for name in shown:
                stream = self.results[name].stream
                cells += ([f"{stream.rms[index]:.3g}", f"{stream.gradient_rms[index]:.3g}"]
                          if index < len(stream.points) else ["-", "-"])
            lines.append(f"| {point} | " + " | ".join(cells) + " |")
        return lines

    def _shown(self):
        """The methods the detailed tables show: the model as given and the recommended one."""
        return list(dict.fromkeys(name for name in ("current", self.recommended) if name in self.results))

    def _per_layer_lines(self):
        """Per layer: fans, kernel std and targets, and the signal, gradient and relative
        gradient of the model as given beside the recommended method's."""
        shown = self._shown()
        lines = ["", f"## Per layer ({' vs '.join(shown)})", "",
                 "| layer | activation | fan_in | fan_out | kernel std | He / Glorot target | "
                 + " | ".join(f"signal std ({n}) | gradient RMS ({n}) | relative gradient ({n})" for n in shown)
                 + " |", "|---" * (6 + 3 * len(shown)) + "|"]
        for index, row in enumerate(self.results[shown[0]].layers):
            cells = []
            for name in shown:
                other = self.results[name].layers[index]
                relative = other.relative_gradient
                cells += [f"{other.signal_std:.3g}", f"{other.gradient_rms:.3g}",
                          f"{relative:.3g}" if relative is not None else "-"]
            lines.append(f"| {row.layer} | {row.activation} | {row.fan_in} | {row.fan_out} | "
                         f"{row.kernel_std:.3g} | {row.target_std['he']:.3g} / {row.target_std['glorot']:.3g} | "
                         + " | ".join(cells) + " |")
        return lines

    def _merge_lines(self):
        """Per residual merge (Add): the branch's RMS over its shortcut's, as given and for the
        recommended method."""
        shown = self._shown()
        if not shown or not self.results[shown[0]].merges:
            return []
        lines = ["", f"## Residual merges ({' vs '.join(shown)})", "",
                 "Branch RMS / shortcut RMS at every two-input Add (Fixup and SkipInit start it near 0: "
                 "each block near the identity; about 1: every block doubles the variance).", "",
                 "| merge | " + " | ".join(f"branch / shortcut ({n})" for n in shown) + " | branch told by |",
                 "|---" * (2 + len(shown)) + "|"]
        for index, merge in enumerate(self.results[shown[0]].merges):
            cells = [f"{self.results[n].merges[index]['ratio']:.3g}" if index < len(self.results[n].merges)
                     else "-" for n in shown]
            lines.append(f"| {merge['merge']} | " + " | ".join(cells) + f" | {merge['branch_from']} |")
        return lines

    def plot(self, path=None):
        """Signal RMS and back-propagated gradient RMS per layer, one line per method (log scale)."""
        from initializers._optional import matplotlib_figure_class

        figure = matplotlib_figure_class()(figsize=(11, 4.2))
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



def _updates_cell(updates):
    """"loss ratio (at a tenth of the rate); spread ratio" of the first updates."""
    if updates is None:
        return "-"
    spread = "-" if updates.spread_ratio is None else f"{updates.spread_ratio:.3g}"
    return f"{updates.ratio:.3g} ({updates.smaller_rate_ratio:.3g}); {spread}"


__all__ = ["DoctorReport", "MethodResult"]
