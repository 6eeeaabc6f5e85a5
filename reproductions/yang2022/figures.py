"""μP figures, drawn from the report (itself computed from the run folders) and from
coord_check.json."""

import pathlib

import numpy as np

from initializers.diagnostics.coordinates import plot_coord_check
from reproductions import plots
from reproductions.configs import yang2022 as config


def draw_lr_transfer(workdir, report):
    """`lr_transfer_<optimizer>.png` per optimizer swept: final training loss against log2
    learning rate, one curve per width, SP and μP side by side (Tensor Programs V, Fig. 1's
    layout). Returns the paths."""
    return [_draw_sweep(workdir, report, optimizer, sweep) for optimizer, sweep in report["sweeps"].items()]


def _draw_sweep(workdir, report, optimizer, sweep):
    plt = plots.pyplot()
    panels = [key for key, _ in config.PARAMETRIZATIONS if key in sweep["loss"]]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.2), squeeze=False, sharey=True)
    widths = sorted({int(w) for key in panels for w in sweep["loss"][key]})
    colours = plt.get_cmap("viridis")
    for axis, key in zip(axes[0], panels):
        for index, width in enumerate(widths):
            cells = sweep["loss"][key].get(str(width), {})
            rates = sorted((int(r) for r, c in cells.items() if not c["diverged"]))
            if not rates:
                continue
            mean = np.array([cells[str(r)]["mean"] for r in rates])
            low = np.array([min(cells[str(r)]["per_seed"]) for r in rates])
            high = np.array([max(cells[str(r)]["per_seed"]) for r in rates])
            colour = colours(index / max(1, len(widths) - 1) * 0.9)
            axis.plot(rates, mean, "o-", color=colour, ms=3, lw=1.5, label=f"width {width}")
            axis.fill_between(rates, low, high, color=colour, alpha=0.15, lw=0)
            best = sweep["best_log2_lr"][key].get(str(width))
            if best is not None:
                axis.plot([best], [cells[str(best)]["mean"]], "*", color=colour, ms=11, mec="black", mew=0.5)
        axis.set_xticks(sorted({int(r) for cells in sweep["loss"][key].values() for r in cells}))
        axis.set_title(dict(config.PARAMETRIZATIONS)[key])
        axis.set_xlabel("log2 learning rate")
        axis.grid(alpha=0.3)
    lowest = min((c["mean"] for key in panels for cells in sweep["loss"][key].values() for c in cells.values()
                  if c["mean"] is not None), default=0.0)
    axes[0][0].set_ylim(0.9 * lowest, 1.1 * report["budget"]["chance_loss"])  # far above chance: off the axis
    axes[0][0].set_ylabel("final training loss")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(f"{report['dataset']}, MLP, {report['budget']['optimizers'][optimizer]}, "
                    f"{report['budget']['steps']} updates\n"
                    "line: mean over seeds, band: min-max, star: best rate; diverged rates left out, "
                    "losses over 1.1 x chance's (ln classes) off the axis", fontsize=9)
    figure.tight_layout()
    path = pathlib.Path(workdir) / f"lr_transfer_{optimizer}.png"
    figure.savefig(path, dpi=plots.DPI)
    plt.close(figure)
    return path


def draw_coord_check(workdir, coord, name="coord_check.png", model="MLP"):
    """`name` from a coordinate check file (nothing when it was not measured)."""
    if coord is None:
        return None
    settings = coord["settings"]
    path = pathlib.Path(workdir) / name
    plot_coord_check(coord["records"], path=path,
                     title=f"Coordinate check: {model}, {settings['optimizer']} at lr {settings['learning_rate']:g}, "
                           f"mean over {len(settings['seeds'])} seed(s); μP logits start at 0 (zero readout, not drawn)")
    return path
