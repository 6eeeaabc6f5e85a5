"""Xiao et al. 2018 figures, drawn from the run folders, the report and spectra.json."""

import pathlib

import numpy as np

from reproductions import mean_field_map, plots
from reproductions.configs import xiao2018 as config
from reproductions.runs import fact, seed_statistics, select
from reproductions.xiao2018.claims import curve_runs


def draw_depth_curves(workdir, runs, report):
    """`depth_curves.png`: test error against updates, one panel per depth, one line per
    initializer (mean over seeds, band min-max); their Fig. 1's layout."""
    curves = curve_runs(runs)
    depths = sorted({fact(run, "depth") for run in curves})
    if not depths:
        return None
    plt = plots.pyplot()
    figure, axes = plt.subplots(1, len(depths), figsize=(4.2 * len(depths), 3.8), squeeze=False, sharey=True)
    chance = report["budget"]["chance_error"]
    for axis, depth in zip(axes[0], depths):
        for index, (key, label) in enumerate(config.INITIALIZERS):
            group = select(curves, init=key, depth=depth)
            if not group:
                continue
            steps, mean, low, high, _ = seed_statistics(group, "test_error")
            axis.plot(steps, 100 * mean, "o-", ms=3, lw=1.5, color=f"C{index}", label=label)
            axis.fill_between(steps, 100 * low, 100 * high, color=f"C{index}", alpha=0.15, lw=0)
        axis.axhline(100 * chance, color="grey", lw=0.8, ls=":")
        axis.set_title(f"{depth:,} tanh layers", fontsize=9)
        axis.set_xlabel("updates")
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("test error (%)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    budget = report["budget"]
    figure.suptitle(f"Vanilla tanh CNNs on {report['dataset']} ({budget['channels']} channels, readout "
                    f"{budget['readout']}, SGD momentum lr {budget['learning_rate']:g}, batch {budget['batch_size']}); "
                    f"line: mean over {len(report['seeds'])} seeds, band: min-max, dotted: chance", fontsize=9)
    return plots.save_figure(plt, figure, workdir, "depth_curves.png")


def draw_map(workdir, report):
    """`trainability_map.png`: the delta-orthogonal CNN map with 3 xi_c and 6 xi_c."""
    cells = report["map"]["cells"]
    if not cells:
        return None
    budget = report["budget"]
    path = pathlib.Path(workdir) / "trainability_map.png"
    mean_field_map.draw_map(
        path, cells, report["map"]["critical_sigma_w2"], config.SIGMA_B2, config.XI_MULTIPLIERS,
        "sigma_w^2 (delta-orthogonal, centre tap x sqrt(sigma_w^2))", "depth (tanh convolution layers)",
        f"CNN map ({report['dataset']}), sigma_b^2 = {budget['sigma_b2']}: accuracy after {budget['steps']} "
        f"updates\n(* trained, majority of seeds; chance = {100 * (1 - budget['chance_error']):.0f}%)")
    return path


def draw_spectra(workdir, spectra):
    """`jacobian_spectra.png`: the singular values' distribution per depth (left: delta-
    orthogonal, middle: Gaussian; all draws pooled) and their spread against depth (right)."""
    if spectra is None:
        return None
    plt = plots.pyplot()
    depths = spectra["settings"]["depths"]
    figure, axes = plt.subplots(1, 3, figsize=(14.0, 4.0))
    colours = plt.get_cmap("viridis")
    labels = dict(config.INITIALIZERS)
    for axis, key in zip(axes[:2], config.CRITICAL_KEYS):
        for index, depth in enumerate(depths):
            values = np.concatenate([r["singular_values"] for r in spectra["records"]
                                     if r["init"] == key and r["depth"] == depth])
            values = np.sort(np.maximum(values, 1e-12))
            axis.plot(values, np.linspace(0, 1, len(values)), color=colours(index / max(1, len(depths) - 1) * 0.9),
                      lw=1.5, label=f"depth {depth:,}")
        axis.set_xscale("log")
        axis.axvline(1.0, color="grey", lw=0.8, ls=":")
        axis.set_xlabel("singular value of the input-output Jacobian")
        axis.set_title(labels[key], fontsize=9)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of singular values below")
    axes[0].legend(fontsize=7)
    for index, key in enumerate(config.CRITICAL_KEYS):
        per_depth = [[r["spread"] for r in spectra["records"] if r["init"] == key and r["depth"] == d] for d in depths]
        axes[2].plot(depths, [np.mean(s) for s in per_depth], "o-", color=f"C{index}", label=labels[key])
        axes[2].fill_between(depths, [min(s) for s in per_depth], [max(s) for s in per_depth],
                             color=f"C{index}", alpha=0.15, lw=0)
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("depth")
    axes[2].set_ylabel("spread: std / mean of the singular values")
    axes[2].set_title("spread vs depth (line: mean over draws, band: min-max)", fontsize=9)
    axes[2].legend(fontsize=7)
    axes[2].grid(alpha=0.3)
    settings = spectra["settings"]
    figure.suptitle(f"Jacobian spectra at initialization: {settings['size']}x{settings['size']}x"
                    f"{settings['channels']} input at q* = {settings['input_variance']:.3g}, sigma_w^2 = "
                    f"{settings['sigma_w2']}, sigma_b^2 = {settings['sigma_b2']}, circular padding, tanh, "
                    f"{settings['draws']} draws (ECDFs pool them)", fontsize=9)
    return plots.save_figure(plt, figure, workdir, "jacobian_spectra.png")
