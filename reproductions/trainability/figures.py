"""Trainability figures, drawn from the report (itself computed from the run folders)."""

import pathlib

import numpy as np

from reproductions import mean_field_map, plots
from reproductions.configs import trainability as config


def draw_map1(workdir, runs, report):
    """`map1_test_error.png` (depth x init heatmap) and `map1_leave_chance.png`."""
    table = report["map1"]
    if not table:
        return
    plt = plots.pyplot()
    keys = list(table)
    depths = sorted({int(d) for row in table.values() for d in row["depths"]})
    errors = np.full((len(depths), len(keys)), np.nan)
    notes = {}
    for column, key in enumerate(keys):
        for row, depth in enumerate(depths):
            cell = table[key]["depths"].get(str(depth))
            if cell is None or cell["final_test_error"]["mean"] is None:
                continue
            errors[row, column] = 100 * cell["final_test_error"]["mean"]
            notes[row, column] = (f"{errors[row, column]:.0f}%\n"
                                  f"{sum(cell['trained'])}/{len(cell['trained'])}")
    figure, axis = plt.subplots(figsize=(1.35 * len(keys) + 2.5, 0.7 * len(depths) + 2.2))
    image = mean_field_map.heatmap(axis, errors, [str(d) for d in depths], [table[k]["label"].split(" (")[0] for k in keys],
                     0, 100, "viridis", notes)
    axis.set_xticklabels(axis.get_xticklabels(), rotation=25, ha="right", fontsize=8)
    axis.set_ylabel("depth (weight layers)")
    figure.colorbar(image, ax=axis, label="final test error (%), mean over seeds")
    budget = report["budget"]
    axis.set_title(f"Map 1, plain ReLU nets ({report['dataset']}): final test error after "
                   f"{budget['map1_steps']} updates\ncell: mean error, seeds trained (error <= chance - "
                   f"{100 * config.TRAINED_BELOW_CHANCE:.0f} points)", fontsize=9)
    figure.tight_layout()
    figure.savefig(pathlib.Path(workdir) / "map1_test_error.png", dpi=plots.DPI)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(10.0, 4.2))
    never = budget["map1_steps"] * 1.15
    for index, key in enumerate(keys):
        medians, lows, highs = [], [], []
        for depth in depths:
            cell = table[key]["depths"].get(str(depth))
            steps = [never if s is None else s for s in (cell or {}).get("updates_to_leave_chance", [])]
            medians.append(np.median(steps) if steps else np.nan)
            lows.append(min(steps) if steps else np.nan)
            highs.append(max(steps) if steps else np.nan)
        offset = (index - (len(keys) - 1) / 2) * 0.25
        x = np.array(depths, dtype=float) + offset
        axis.fill_between(x, lows, highs, alpha=0.12, color=f"C{index}", lw=0)
        axis.plot(x, medians, marker="o", ms=4, color=f"C{index}", label=table[key]["label"], lw=1.4,
                  ls=("-", "--", ":", "-.")[index % 4])
    axis.axhline(never, color="grey", lw=0.8, ls=":")
    axis.text(depths[-1], never, "never (within the budget) ", va="bottom", ha="right", fontsize=7,
              color="grey")
    axis.set_xlabel("depth (weight layers)")
    axis.set_ylabel("updates until test error <= chance - 10 points")
    axis.set_title("Map 1: updates to leave chance (line: median over seeds, band: min-max)", fontsize=9)
    axis.set_xticks(depths)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(pathlib.Path(workdir) / "map1_leave_chance.png", dpi=plots.DPI)
    plt.close(figure)


def draw_map2(workdir, runs, report):
    """`map2_accuracy.png`: accuracy over (sigma_w^2, depth), theory curves c xi_c."""
    cells = report["map2"]["cells"]
    if not cells:
        return
    budget = report["budget"]
    mean_field_map.draw_map(
        pathlib.Path(workdir) / "map2_accuracy.png", cells, report["map2"]["critical_sigma_w2"], config.SIGMA_B2,
        config.XI_MULTIPLIERS, "sigma_w^2 (W ~ N(0, sigma_w^2 / n))", "depth (tanh layers)",
        f"Map 2, tanh MLPs, width {budget['map2_width']}, sigma_b^2 = {budget['sigma_b2']}: "
        f"accuracy after {budget['map2_steps']} SGD updates\n(* trained, majority of seeds; "
        f"chance = {100 / runs[0]['config']['model_kwargs']['num_classes']:.0f}%)")
