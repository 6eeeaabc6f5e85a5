"""Figures drawn from run folders only (config.json, metrics.jsonl, final.json), through
`reproductions.runs`."""

import pathlib

from reproductions.runs import diverged_count, group_runs, seed_statistics

DPI = 200


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, figure, workdir, name):
    """Lays out, writes `<workdir>/<name>` and closes `figure`; returns the path."""
    figure.tight_layout()
    path = pathlib.Path(workdir) / name
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _legend_label(name, group):
    label = group[0]["config"].get("label") or name
    diverged = diverged_count(group)
    suffix = f", {diverged}/{len(group)} diverged" if diverged else ""
    return f"{label} (n={len(group)}{suffix})"


def plot_error_curves(runs, path, title, names=None, metrics=("test_error", "train_error"),
                      x_label="training steps (updates)", steps_per_x_unit=1.0):
    """One panel per metric: mean across seeds with a min-max band, one colour per setting.

    `steps_per_x_unit` converts steps to the x axis unit (e.g. steps per epoch).
    """
    plt = pyplot()
    groups = group_runs(runs, names)
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    colours = plt.get_cmap("tab10")
    # Line styles differ too, so curves that coincide (identical distributions and
    # seeds, e.g. our GlorotUniform and Keras's) stay visible.
    styles = ("-", "--", ":", "-.")
    for axis, metric in zip(axes[0], metrics):
        for index, (name, group) in enumerate(groups.items()):
            steps, mean, low, high, _ = seed_statistics(group, metric)
            steps = steps / steps_per_x_unit
            colour = colours(index % 10)
            axis.plot(steps, 100 * mean, color=colour, label=_legend_label(name, group), lw=1.6,
                      ls=styles[index % len(styles)])
            axis.fill_between(steps, 100 * low, 100 * high, color=colour, alpha=0.18, lw=0)
        axis.set_xlabel(x_label)
        axis.set_ylabel(f"{metric.replace('_', ' ')} (%)")
        axis.grid(alpha=0.3)
        axis.set_title(metric.replace("_", " "))
    axes[0][0].legend(fontsize=8, loc="best")
    figure.suptitle(f"{title}\nline: mean over seeds; band: min-max", fontsize=10)
    figure.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
