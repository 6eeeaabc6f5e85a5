"""(sigma_w^2, depth) trainability maps with mean-field theory on top (Schoenholz et al.
2017, "Deep Information Propagation"): the cells, their agreement with depth < c xi_c, the
two claims and the heatmap. Shared by the trainability driver's map 2 (tanh MLPs) and the
Xiao et al. 2018 driver's CNN map.
"""

import math
import pathlib

import numpy as np

from initializers.diagnostics import mean_field
from reproductions import margins, plots
from reproductions import report as reporting
from reproductions.runs import fact, final_error, seed_summary, select


def map_cells(group, sigma_b2, trained):
    """Per (sigma_w^2, depth) cell of `group` (runs tagged with both): final accuracy over
    seeds, `trained(run)` per seed and by majority, and xi_c of mean-field theory (tanh,
    `sigma_b2`; None where it is infinite, at the critical point)."""
    cells = []
    for sigma_w2 in sorted({fact(run, "sigma_w2") for run in group}):
        xi = mean_field.correlation_depth("tanh", sigma_w2, sigma_b2)
        column = select(group, sigma_w2=sigma_w2)
        for depth in sorted({fact(run, "depth") for run in column}):
            runs = select(column, depth=depth)
            statuses = [trained(r) for r in runs]
            cells.append({"sigma_w2": sigma_w2, "depth": depth, "xi_c": None if math.isinf(xi) else xi,
                          "accuracy": seed_summary([None if final_error(r) is None else 1 - final_error(r)
                                                    for r in runs]),
                          "trained_per_seed": statuses, "trained": sum(statuses) > len(statuses) / 2})
    return cells


def agreement(cells, multiplier):
    """Fraction of cells whose trained status equals depth < multiplier * xi_c."""
    predicted = [cell["xi_c"] is None or cell["depth"] < multiplier * cell["xi_c"] for cell in cells]
    return float(np.mean([p == cell["trained"] for p, cell in zip(predicted, cells)]))


def _seed_samples(cells):
    """The cells' per-seed trained statuses as resamplable samples ({cell index: list})."""
    return {str(index): list(cell["trained_per_seed"]) for index, cell in enumerate(cells)}


def _with_seeds(cells, samples):
    """`cells` with `trained` decided by majority of the (resampled) seeds in `samples`."""
    return [{**cell, "trained": sum(samples[str(i)]) > len(samples[str(i)]) / 2} for i, cell in enumerate(cells)]


def _deepest_trained(cells):
    """{sigma_w^2: the largest depth trained by majority (0: none)} over the grid."""
    deepest = {cell["sigma_w2"]: 0 for cell in cells}
    for cell in cells:
        if cell["trained"]:
            deepest[cell["sigma_w2"]] = max(deepest[cell["sigma_w2"]], cell["depth"])
    return deepest


def map_claims(cells, critical, map_name, multiplier, required, fit_multipliers):
    """`trainable_depth_tracks_xi_c` (at least `required` of the cells agree with depth <
    `multiplier` xi_c; the best-fitting multiplier of `fit_multipliers` reported too) and
    `critical_init_trains_deepest`. Their margins come from redrawing each cell's majority
    with a seed left out (every cell lists the same seeds; of 3 seeds, the 2 left must both
    have trained: a tie is not a majority)."""
    if not cells:
        return []
    best = max(fit_multipliers, key=lambda m: (agreement(cells, m), -m))
    at_multiplier = agreement(cells, multiplier)
    deepest = _deepest_trained(cells)
    grid = sorted(deepest)
    nearest = min(grid, key=lambda s: abs(math.log(s / critical)))
    samples = _seed_samples(cells)

    def lead_over_others(samples):  # layers the critical column trains deeper than any other
        found = _deepest_trained(_with_seeds(cells, samples))
        return found[nearest] - max((d for s, d in found.items() if s != nearest), default=0)

    def lead_over_ends(samples):
        found = _deepest_trained(_with_seeds(cells, samples))
        return found[nearest] - max(found[grid[0]], found[grid[-1]])

    return [
        reporting.claim(
            "trainable_depth_tracks_xi_c",
            f"{map_name}: at least {required:g} of the (sigma_w^2, depth) cells are trained "
            f"(majority of seeds) exactly where depth < {multiplier} xi_c "
            "(Schoenholz et al. 2017); the best-fitting multiplier is reported too",
            {f"agreement_at_{multiplier}_xi_c": at_multiplier, "best_multiplier": best,
             "agreement_at_best": agreement(cells, best), "cells": len(cells)},
            margins.margin(lambda s: agreement(_with_seeds(cells, s), multiplier), samples, required, ">=",
                           f"fraction of cells agreeing with depth < {multiplier} xi_c"),
            at_multiplier >= required),
        reporting.claim(
            "critical_init_trains_deepest",
            f"{map_name}: the grid's sigma_w^2 nearest the critical {critical:.3f} trains (majority of seeds) "
            "at least as deep as every other sigma_w^2, and strictly deeper than the grid's two ends",
            {"critical_sigma_w2": critical, "nearest_on_grid": nearest,
             "max_trained_depth": {f"{s:g}": deepest[s] or None for s in grid}},
            margins.combine([
                margins.margin(lead_over_others, samples, 0, ">=",
                               "deepest trained depth at the critical sigma_w^2 minus any other's (layers)"),
                margins.margin(lead_over_ends, samples, 0, ">",
                               "deepest trained depth at the critical sigma_w^2 minus the grid ends' (layers)")]),
            deepest[nearest] >= max(deepest.values()) and deepest[nearest] > max(deepest[grid[0]], deepest[grid[-1]])),
    ]


def map_markdown(cells, title):
    """The map as a markdown table: accuracy (%) by sigma_w^2 (rows) and depth, * trained;
    no lines for a profile without the map (no cells), as `map_claims` has no claims then."""
    if not cells:
        return []
    sigmas = sorted({c["sigma_w2"] for c in cells})
    depths = sorted({c["depth"] for c in cells})
    lookup = {(c["sigma_w2"], c["depth"]): c for c in cells}
    rows = []
    for sigma_w2 in sigmas:
        xi = next(c["xi_c"] for c in cells if c["sigma_w2"] == sigma_w2)
        rows.append((f"{sigma_w2:g}", "inf" if xi is None else f"{xi:.4g}",
                     *(f"{reporting.percent(lookup[sigma_w2, d]['accuracy']['mean'])}"
                       f"{' *' if lookup[sigma_w2, d]['trained'] else ''}" if (sigma_w2, d) in lookup else "-"
                       for d in depths)))
    return [title, "", *reporting.markdown_table(("sigma_w^2", "xi_c", *(f"depth {d}" for d in depths)), rows)]


def heatmap(axis, values, row_labels, column_labels, vmin, vmax, cmap, annotate):
    """`values` (rows x columns) as an annotated image on `axis`."""
    image = axis.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
    axis.set_xticks(range(len(column_labels)), column_labels)
    axis.set_yticks(range(len(row_labels)), row_labels)
    for (row, column), text in annotate.items():
        axis.text(column, row, text, ha="center", va="center", fontsize=7,
                  color="white" if values[row, column] < (vmin + vmax) / 2 else "black")
    return image


def draw_map(path, cells, critical, sigma_b2, multipliers, xlabel, ylabel, title):
    """`path`: accuracy over (sigma_w^2, depth) with the curves c xi_c for c in `multipliers`
    and the critical sigma_w^2 marked."""
    plt = plots.pyplot()
    sigmas = sorted({c["sigma_w2"] for c in cells})
    depths = sorted({c["depth"] for c in cells})
    lookup = {(c["sigma_w2"], c["depth"]): c for c in cells}
    accuracy = np.full((len(depths), len(sigmas)), np.nan)
    notes = {}
    for column, sigma_w2 in enumerate(sigmas):
        for row, depth in enumerate(depths):
            cell = lookup.get((sigma_w2, depth))
            if cell and cell["accuracy"]["mean"] is not None:
                accuracy[row, column] = 100 * cell["accuracy"]["mean"]
                notes[row, column] = f"{accuracy[row, column]:.0f}" + ("*" if cell["trained"] else "")
    figure, axis = plt.subplots(figsize=(7.6, 5.4))
    image = heatmap(axis, accuracy, [str(d) for d in depths], [f"{s:g}" for s in sigmas], 0, 100, "magma", notes)
    # Theory on the grid's own coordinates: x interpolates sigma_w^2 between columns, y depth
    # between rows (the grids need not be evenly spaced).
    fine = np.geomspace(sigmas[0], sigmas[-1], 200)
    x = np.interp(np.log(fine), np.log(sigmas), np.arange(len(sigmas)))
    xi = np.array([mean_field.correlation_depth("tanh", s, sigma_b2) for s in fine])
    for multiplier, style in zip(multipliers, ("--", "-")):
        depth = multiplier * xi
        y = np.interp(np.clip(depth, depths[0], depths[-1]), depths, np.arange(len(depths)))
        y[depth > depths[-1]] = np.nan  # off the top of the map
        axis.plot(x, y, style, color="cyan", lw=1.6, label=f"{multiplier} xi_c (mean-field theory)")
    axis.axvline(np.interp(math.log(critical), np.log(sigmas), np.arange(len(sigmas))), color="lime",
                 lw=1.0, ls=":", label=f"critical sigma_w^2 = {critical:.2f}")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_ylim(-0.5, len(depths) - 0.5)
    figure.colorbar(image, ax=axis, label="final test accuracy (%), mean over seeds")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(pathlib.Path(path), dpi=plots.DPI)
    plt.close(figure)
