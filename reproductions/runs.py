"""Reading finished runs back from their folders, grouping them by their tags, and
statistics over seeds: the only way drivers see results (plots and reports are made
from these files, never from memory)."""

import sys

import numpy as np

from initializers.jsonio import DamagedFileError
from reproductions import run_folder


def load_runs(workdir, configs=None):
    """Every finished run folder (`final.json` present) of an experiment, in name order.

    Args:
        workdir: the experiment folder (runs in `<workdir>/runs/`).
        configs: the profile's `RunConfig`s. Given, only runs of these config names
            are returned, and a run folder written before configs carried `tags`
            gets the tags of the config of its name (run names are unique within a
            profile), so old run folders still redraw.

    Returns:
        A list of `{"dir", "config", "metrics", "final"}` dicts. A run whose files cannot
        be parsed is left out, with one line on stderr naming the file (a damaged line of
        `metrics.jsonl` only loses that line, with a warning).
    """
    tags_by_name = None if configs is None else {c.name: c.tags for c in configs}
    runs = []
    for run_dir in run_folder.finished_run_dirs(workdir):
        try:
            config = run_folder.read_config(run_dir)
            if tags_by_name is not None and config["name"] not in tags_by_name:
                continue
            run = run_folder.read_run(run_dir, config)
        except DamagedFileError as error:  # the next sweep sets the folder aside and redoes it
            print(f"warning: {error.path} cannot be parsed (damaged or cut short); run left out",
                  file=sys.stderr)
            continue
        if tags_by_name is not None:
            config.setdefault("tags", tags_by_name[config["name"]])
        runs.append(run)
    return runs


def fact(run, key):
    """A fact of a run: its tag `key`, else its config field `key` (e.g. "dataset")."""
    config = run["config"]
    tags = config.get("tags") or {}
    return tags[key] if key in tags else config[key]


def select(runs, **facts):
    """The runs whose facts (`fact`) equal every given value, e.g. `select(runs, figure="fig3",
    init="he")`."""
    return [run for run in runs if all(fact(run, k) == v for k, v in facts.items())]


def group_runs(runs, names=None):
    """{config name: [runs]} in the order of `names` (default: order of first appearance).
    A config name is one curve (one setting, several seeds)."""
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


def chance_error(run):
    """The error of guessing at chance on a run's balanced classes: 1 - 1 / classes."""
    return 1.0 - 1.0 / run["config"]["model_kwargs"]["num_classes"]


def first_step_at_or_below(run, threshold, metric="test_error"):
    """The first evaluated step at which `metric` is <= `threshold` (None: never), e.g. when
    a run leaves chance or first converges."""
    steps = [m["step"] for m in run["metrics"] if m.get(metric) is not None and m[metric] <= threshold]
    return steps[0] if steps else None


def final_error(run):
    """A run's final error on its evaluation set, or None if it diverged."""
    return run["final"]["final"]["test_error"] if run["final"]["status"] == "completed" else None


def final_loss(run):
    """A run's final loss on its evaluation set, or None if it diverged."""
    return run["final"]["final"].get("test_loss") if run["final"]["status"] == "completed" else None


def final_test_errors(group):
    """Per seed (run): the final test error, or None for a diverged run."""
    return [final_error(run) for run in group]


def diverged_count(group):
    """How many runs of a group diverged."""
    return sum(run["final"]["status"] == "diverged" for run in group)


def seed_summary(values):
    """`{"per_seed", "mean", "std"}` of per-seed values; None entries (diverged runs) are
    kept in `per_seed` and left out of mean and std (sample std, ddof=1)."""
    present = [v for v in values if v is not None]
    return {"per_seed": values, "mean": float(np.mean(present)) if present else None,
            "std": float(np.std(present, ddof=1)) if len(present) > 1 else None}


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
