"""Figures in the style of Glorot & Bengio 2010, from the diagnostics output.

* `plot_layer_histograms`: one panel per setting, one curve per layer: the
  normalized histograms of activations (their Figs. 4 and 6), back-propagated
  gradients (Fig. 7) or weight gradients (Fig. 8).
* `plot_training_statistics`: per-layer statistics over training, from
  `ActivationStatsRecorder` records: mean with +-std bars (Fig. 2) or the 98th
  percentile and std (Fig. 3).

Both return a `matplotlib.figure.Figure` built without pyplot (no GUI backend,
safe in scripts and threads) and save it when `path` is given.

Example:

>>> rows = {"standard": activation_statistics(standard_model, x, value_range=(-1, 1)),
...         "normalized": activation_statistics(normalized_model, x, value_range=(-1, 1))}
>>> plot_layer_histograms(rows, path="fig6.png", xlabel="activation value")
"""

import numpy as np

DPI = 200
_STYLES = {"mean": "-", "std": "--", "p98": "-", "p2": ":", "saturation": "-."}


def _figure(columns, rows=1, width=5.2, height=3.8):
    from initializers._optional import matplotlib_figure_class

    # A lone panel gets more room, so a figure title fits.
    figure = matplotlib_figure_class()(figsize=(max(width * columns, 8.0), height * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _save(figure, path):
    if path is not None:
        figure.tight_layout()
        figure.savefig(path, dpi=DPI)


def _colours(count):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(1, count - 1) * 0.9) for i in range(count)]


def plot_layer_histograms(panels, path=None, xlabel="value", title=None, layers=None,
                          log_y=False, sharex=False):
    """One panel per entry of `panels`, one normalized-histogram curve per layer.

    Args:
        panels: `{panel title: rows}`, rows as returned by `activation_statistics` or
            `gradient_statistics` (each with `layer` and `histogram`).
        path: file to save to (None: only return the figure).
        xlabel, title: axis label and figure title.
        layers: names of the layers to draw (default: all rows).
        log_y: logarithmic density axis (gradient histograms have sharp peaks).
        sharex: one x range for every panel.

    Returns:
        The `matplotlib.figure.Figure`.
    """
    if not panels:
        raise ValueError(f"`panels` must hold at least one panel. Received: panels={panels!r}")
    figure, axes = _figure(len(panels))
    for axis, (panel_title, rows) in zip(axes[0], panels.items()):
        rows = [row for row in rows if layers is None or row["layer"] in layers]
        for colour, row in zip(_colours(len(rows)), rows):
            counts = np.asarray(row["histogram"]["counts"], dtype=np.float64)
            edges = np.asarray(row["histogram"]["edges"], dtype=np.float64)
            density = counts / max(counts.sum(), 1.0) / np.diff(edges)
            axis.stairs(density, edges, color=colour, lw=1.4, label=row["layer"])
        axis.set_title(panel_title, fontsize=10)
        axis.set_xlabel(xlabel)
        axis.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))  # gradients are ~1e-4
        axis.set_ylabel("density")
        if log_y:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    if sharex:
        low = min(a.get_xlim()[0] for a in axes[0])
        high = max(a.get_xlim()[1] for a in axes[0])
        for axis in axes[0]:
            axis.set_xlim(low, high)
    if title:
        figure.suptitle(title, fontsize=10)
    _save(figure, path)
    return figure


def plot_training_statistics(panels, statistics=("mean", "std"), errorbar=True, path=None,
                             title=None, xlabel="updates", steps_per_x_unit=1.0, layers=None):
    """Per-layer statistics over training, one panel per entry of `panels`.

    Args:
        panels: `{panel title: records}`, records as `read_records` returns them
            (`{"step", "layers": [rows]}`).
        statistics: row fields to draw, e.g. `("mean", "std")` or `("p98", "std")`.
        errorbar: with two statistics, draw the first with +- the second as error
            bars (Glorot & Bengio's Fig. 2); otherwise each statistic as its own
            line style, one colour per layer (their Fig. 3).
        path, title: as for `plot_layer_histograms`.
        xlabel, steps_per_x_unit: x axis label and steps per x unit.
        layers: names of the layers to draw (default: all).

    Returns:
        The `matplotlib.figure.Figure`.
    """
    if errorbar and len(statistics) != 2:
        raise ValueError("`errorbar=True` needs exactly two statistics (centre, spread). "
                         f"Received: statistics={statistics!r}")
    if not panels:
        raise ValueError(f"`panels` must hold at least one panel. Received: panels={panels!r}")
    figure, axes = _figure(len(panels))
    for axis, (panel_title, records) in zip(axes[0], panels.items()):
        if not records:
            raise ValueError(f"Panel {panel_title!r} has no records. Received: records={records!r}")
        steps = np.array([r["step"] for r in records], dtype=np.float64) / steps_per_x_unit
        indices = [i for i, row in enumerate(records[0]["layers"]) if layers is None or row["layer"] in layers]
        for colour, index in zip(_colours(len(indices)), indices):
            name = records[0]["layers"][index]["layer"]
            values = {s: np.array([r["layers"][index][s] for r in records], dtype=np.float64)
                      for s in statistics}
            if errorbar:
                centre, spread = statistics
                axis.errorbar(steps, values[centre], yerr=values[spread], color=colour, lw=1.2,
                              capsize=2, elinewidth=0.7, label=name)
            else:
                for statistic in statistics:
                    axis.plot(steps, values[statistic], _STYLES.get(statistic, "-"), color=colour,
                              lw=1.2, marker="." if statistic.startswith("p") else None,
                              label=f"{name} {statistic}")
        axis.set_title(panel_title, fontsize=10)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(f"{statistics[0]} +- {statistics[1]}" if errorbar else ", ".join(statistics))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6, ncol=2 if not errorbar else 1)
    if title:
        figure.suptitle(title, fontsize=10)
    _save(figure, path)
    return figure
