"""He et al. 2015 figures, drawn from the run folders: Figs. 2-3 (error curves) and the
per-layer kernel-gradient norms of the 30-layer nets."""

import pathlib

import numpy as np

from reproductions import plots
from reproductions.configs import he2015 as he_config
from reproductions.he2015.measure import gradient_norms
from reproductions.runs import select


def draw_error_curves(workdir, profile, configs, runs):
    """`fig2_22layer.png` and `fig3_30layer.png`: test and training error, He vs Xavier vs
    the Keras built-ins, mean and min-max band over seeds (one curve per config, in the
    configs' order)."""
    per_epoch = he_config.steps_per_epoch(profile)
    x_label = "epochs" if per_epoch else "training steps (updates)"
    first = runs[0]["config"]
    for figure, depth in he_config.FIGURES.items():
        selected = select(runs, figure=figure)
        if not selected:
            continue
        names = [config.name for config in configs if config.tags["figure"] == figure]
        lr = selected[0]["config"]["learning_rate"]
        title = (f"He et al. 2015 Fig. {figure[-1]}: {depth}-layer plain ReLU net (no BN), {first['dataset']}, "
                 f"width x{first['model_kwargs']['width_multiplier']:g}, stem {first['model_kwargs'].get('stem', 'paper')}, "
                 f"SGD momentum lr {lr:g}")
        plots.plot_error_curves(selected, pathlib.Path(workdir) / f"{figure}_{depth}layer.png", title, names,
                                x_label=x_label, steps_per_x_unit=per_epoch or 1.0)


def plot_gradients(runs, path):
    """Per-layer kernel-gradient norm, 30 layers, He vs Xavier: at init and at the end."""
    plt = plots.pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10.4, 4.0), sharey=True)
    final_step = (select(runs, figure="fig3") or runs)[0]["config"]["steps"]
    for axis, step, title in ((axes[0], 0, "at initialization"),
                              (axes[1], final_step, f"after {final_step} updates")):
        for init, colour in (("he", "tab:blue"), ("xavier", "tab:red")):
            group = select(runs, figure="fig3", init=init)
            norms = gradient_norms(group, step)
            if not norms.size:
                continue
            layers = np.arange(1, norms.shape[1] + 1)
            label = group[0]["config"]["label"]
            for seed_norms in norms:
                axis.plot(layers, seed_norms, color=colour, alpha=0.35, lw=0.8)
            # Geometric mean over the seeds with a non-zero norm; a layer whose
            # gradient is zero on every seed (dead ReLUs) is left out (log scale).
            alive = norms > 0
            log_sum = np.where(alive, np.log(np.where(alive, norms, 1.0)), 0.0).sum(axis=0)
            count = alive.sum(axis=0)
            geometric_mean = np.full(norms.shape[1], np.nan)
            geometric_mean[count > 0] = np.exp(log_sum[count > 0] / count[count > 0])
            axis.plot(layers, geometric_mean, color=colour, lw=1.8, label=f"{label} (n={len(norms)})")
        axis.set_yscale("log")
        axis.set_xlabel("weight layer (1 = stem conv, 30 = logits)")
        axis.set_title(title)
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("||d loss / d kernel|| (fixed batch)")
    axes[0].legend(fontsize=8)
    figure.suptitle("30-layer plain net: per-layer gradient norms (thin: seeds, thick: geometric mean)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=plots.DPI)
    plt.close(figure)
