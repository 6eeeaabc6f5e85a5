"""Zhang et al. 2019 (Fixup) figures, drawn from the report (itself from the run folders)
and signal.json."""

import math

import numpy as np

from reproductions import plots
from reproductions.configs import zhang2019 as config


def draw_depth_accuracy(workdir, report):
    """`depth_accuracy.png` (their Fig. 2): test accuracy after the budget against depth, one
    line per row (mean over seeds, a diverged seed at 0; band: min-max)."""
    table = report["depths"]
    if not table:
        return None
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(7.0, 4.4))
    for index, (key, label) in enumerate(config.ROWS):
        if key not in table:
            continue
        depths = sorted(int(d) for d in table[key]["depths"])
        accuracy = np.array([[0.0 if e is None else 1.0 - e
                              for e in table[key]["depths"][str(d)]["final_test_error"]["per_seed"]] for d in depths])
        style = "--" if key.startswith("keras") else "-"
        axis.plot(depths, 100 * accuracy.mean(axis=1), "o" + style, ms=4, lw=1.5, color=f"C{index}", label=label)
        axis.fill_between(depths, 100 * accuracy.min(axis=1), 100 * accuracy.max(axis=1), color=f"C{index}",
                          alpha=0.12, lw=0)
    budget = report["budget"]
    axis.axhline(100 * (1 - budget["chance_error"]), color="grey", lw=0.8, ls=":")
    axis.set_xscale("log")
    axis.set_xlabel("depth (weight layers)")
    axis.set_ylabel(f"test accuracy after {budget['steps']} updates (%)")
    axis.set_ylim(0, 100)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower left")
    axis.set_title(f"Residual CNNs on {report['dataset']}, one learning rate for all (SGD momentum, lr "
                   f"{budget['learning_rate']:g}, batch {budget['batch_size']})\nline: mean over "
                   f"{len(report['seeds'])} seeds (diverged = 0), band: min-max, dotted: chance", fontsize=9)
    return plots.save_figure(plt, figure, workdir, "depth_accuracy.png")


def draw_signal(workdir, signal):
    """`signal_at_init.png`: stack gain (left) and gradient norm (right) at initialization
    against depth, one line per row (median over draws; band: min-max); overflows are drawn
    as triangles at the top of the panel."""
    if signal is None:
        return None
    plt = plots.pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12.0, 4.4))
    depths = signal["settings"]["depths"]
    for axis, quantity, ylabel in ((axes[0], "stack_gain", "stack gain: RMS(output) / RMS(input)"),
                                   (axes[1], "gradient_norm", "gradient norm (all weights)")):
        finite = [r[quantity] for r in signal["records"] if r[quantity] is not None and r[quantity] > 0]
        top = max(finite) * 10 if finite else 10.0
        for index, (key, label) in enumerate(config.ROWS):
            values = [[r[quantity] for r in signal["records"] if r["row"] == key and r["depth"] == d] for d in depths]
            if not any(values):
                continue
            infinite = [[math.inf if v is None else v for v in per] for per in values]
            median = np.array([np.median(per) for per in infinite])
            shown = np.where(np.isinf(median), np.nan, median)
            style = "--" if key.startswith("keras") else "-"
            axis.plot(depths, shown, "o" + style, ms=4, lw=1.5, color=f"C{index}", label=label)
            low = [min(per) for per in infinite]
            high = [max(per) for per in infinite]
            axis.fill_between(depths, np.where(np.isinf(low), np.nan, low), np.where(np.isinf(high), top, high),
                              color=f"C{index}", alpha=0.1, lw=0)
            over = [d for d, m in zip(depths, median) if math.isinf(m)]
            axis.plot(over, [top] * len(over), "^", ms=7, color=f"C{index}")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("depth (weight layers)")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    settings = signal["settings"]
    figure.suptitle(f"At initialization, one batch of {settings['batch']} ({settings['dataset']}), BatchNorm at batch "
                    f"statistics; line: median over {settings['draws']} draws, band: min-max; triangle: float32 "
                    "overflow", fontsize=9)
    return plots.save_figure(plt, figure, workdir, "signal_at_init.png")
