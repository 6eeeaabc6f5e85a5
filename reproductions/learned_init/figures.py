"""Learned-initialization figures, drawn from the run folders (through the report, itself
built from them)."""

import numpy as np

from reproductions import plots
from reproductions.configs import learned_init as config
from reproductions.learned_init.claims import LEARNED
from reproductions.runs import select

CURVES = {"plain": "plain30_curves.png", "residual": "residual_curves.png"}


def draw_curves(workdir, runs, report):
    """Test and training error per update, one line per row (mean over seeds; band:
    min-max), one figure per net."""
    paths = []
    for experiment, budget in report["budget"].items():
        group = select(runs, experiment=experiment)
        names = [f"{experiment}{budget['depth']}_{key}" for key, _ in config.ROWS]
        title = (f"{budget['depth']}-layer {experiment} net ({budget['model']}), {budget['dataset']}, "
                 f"{budget['optimizer']}, lr {budget['learning_rate']:g}, batch {budget['batch_size']}")
        name = CURVES[experiment] if budget["depth"] in (30, 100) else f"{experiment}{budget['depth']}_curves.png"
        paths.append(plots.plot_error_curves(group, f"{workdir}/{name}", title, names=names))
    return paths


def draw_factors(workdir, report):
    """`learned_factors.png`: left, the factor each learned init gave each kernel of the
    plain net against depth (per seed: dots; mean: line), with He's sqrt(2) relative to
    Xavier and 1 (Xavier kept); right, each method's objective per iteration (per seed)."""
    methods = (report["learned"] or {}).get("plain") or {}
    if not methods:
        return None
    plt = plots.pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    for index, method in enumerate(m for m in LEARNED if m in methods):
        entry = methods[method]
        factors = np.array(entry["factors"])
        depth = np.arange(1, factors.shape[1] + 1)
        colour = f"C{index + 1}"
        for seed in factors:
            left.plot(depth, seed, "o", ms=2.5, color=colour, alpha=0.5)
        left.plot(depth, factors.mean(axis=0), "-", lw=1.5, color=colour, label=dict(config.ROWS)[method])
        for seed_index, curve in enumerate(entry["objective"]):
            values = np.asarray(curve, dtype=float)
            scale = values / values[0] if values[0] else values
            right.plot(np.arange(1, len(values) + 1), scale, lw=1.0, color=colour, alpha=0.8,
                       label=f"{method}: {entry['objective_name'].replace('_', ' ')}" if seed_index == 0 else None)
    left.axhline(report["he_relu_factor"], color="C0", ls="--", lw=1, label="He's rule relative to Xavier: sqrt(2)")
    left.axhline(1.0, color="grey", ls=":", lw=1, label="Xavier kept (1)")
    left.set_xlabel("weight layer (1 = first)")
    left.set_ylabel("learned factor (norm after / norm drawn)")
    left.set_yscale("log")
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    left.set_title("What the learned inits do to Xavier's init, per layer\n(dots: seeds; line: mean)", fontsize=9)
    right.set_xlabel("iteration")
    right.set_ylabel("objective / its first value")
    right.set_yscale("log")
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    right.set_title("The objectives they minimize (per seed)\nGradInit: L(S'; theta - eta A[g]) / eta or ||g||; "
                    "MetaInit: gradient quotient", fontsize=9)
    return plots.save_figure(plt, figure, workdir, "learned_factors.png")
