"""Figures drawn from run folders only (config.json, metrics.jsonl, final.json)."""

import pathlib

import numpy as np

from reproductions.runio import read_json, read_jsonl

DPI = 200


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def load_runs(workdir):
    """Every run folder of an experiment that has finished (has `final.json`)."""
    runs = []
    for run_dir in sorted((pathlib.Path(workdir) / "runs").glob("*")):
        if not (run_dir / "final.json").exists():
            continue
        runs.append({
            "dir": run_dir,
            "config": read_json(run_dir / "config.json"),
            "metrics": read_jsonl(run_dir / "metrics.jsonl"),
            "final": read_json(run_dir / "final.json"),
        })
    return runs


def group_runs(runs, names=None):
    """{name: [runs]} in the order of `names` (default: order of first appearance)."""
    groups = {}
    for run in runs:
        groups.setdefault(run["config"]["name"], []).append(run)
    if names is not None:
        groups = {name: groups[name] for name in names if name in groups}
    return groups


def seed_statistics(group, metric):
    """(steps, mean, min, max, count) of `metric` across a group's seeds.

    Steps where a seed has no value (after it diverged) count only the seeds that
    do; `count` says how many that is at each step.
    """
    steps = sorted({m["step"] for run in group for m in run["metrics"]})
    table = np.full((len(group), len(steps)), np.nan)
    column = {step: i for i, step in enumerate(steps)}
    for row, run in enumerate(group):
        for record in run["metrics"]:
            if record.get(metric) is not None:
                table[row, column[record["step"]]] = record[metric]
    count = np.sum(~np.isnan(table), axis=0)
    keep = count > 0
    table = table[:, keep]
    with np.errstate(all="ignore"):
        return (np.array(steps)[keep], np.nanmean(table, axis=0), np.nanmin(table, axis=0),
                np.nanmax(table, axis=0), count[keep])


def final_test_errors(group):
    """Per seed (run): the final test error, or None for a diverged run."""
    return [run["final"]["final"]["test_error"] if run["final"]["status"] == "completed" else None
            for run in group]


def seed_summary(values):
    """`{"per_seed", "mean", "std"}` of per-seed values; None entries (diverged runs) are
    kept in `per_seed` and left out of mean and std (sample std, ddof=1)."""
    present = [v for v in values if v is not None]
    return {"per_seed": values, "mean": float(np.mean(present)) if present else None,
            "std": float(np.std(present, ddof=1)) if len(present) > 1 else None}


def _legend_label(name, group):
    label = group[0]["config"].get("label") or name
    diverged = sum(run["final"]["status"] == "diverged" for run in group)
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


def final_summary(runs, names=None, metric="test_error"):
    """Rows (name, label, n, completed, mean, std, min, max) of the final metric per setting."""
    rows = []
    for name, group in group_runs(runs, names).items():
        values = np.array([r["final"]["final"][metric] for r in group
                           if r["final"]["status"] == "completed"], dtype=float)
        completed = len(values)
        rows.append({
            "name": name,
            "label": group[0]["config"].get("label") or name,
            "n": len(group),
            "completed": completed,
            "mean": float(values.mean()) if completed else None,
            "std": float(values.std(ddof=1)) if completed > 1 else None,
            "min": float(values.min()) if completed else None,
            "max": float(values.max()) if completed else None,
        })
    return rows


def summary_markdown(rows, metric="test error"):
    """Markdown table of `final_summary` rows, errors in %."""
    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}"

    lines = [f"| setting | seeds (completed) | final {metric} % mean | std | min | max |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['label']} | {row['n']} ({row['completed']}) | {pct(row['mean'])} | "
                     f"{pct(row['std'])} | {pct(row['min'])} | {pct(row['max'])} |")
    return "\n".join(lines)
