"""The panel's figure, drawn from the report (itself computed from run folders and verdicts)."""

import pathlib

import numpy as np

from reproductions import plots
from reproductions.configs import doctor_panel as panel


def draw_panel(workdir, report):
    """`panel.png`: per net, final test error of the current init (and of the doctor's
    recommendation on warned nets), mean and seeds, coloured by the doctor's verdict."""
    rows = [(key, row) for key, row in report["panel"].items() if row["current"] is not None]
    if not rows:
        return None
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.8))
    for index, (key, row) in enumerate(rows):
        y = len(rows) - 1 - index
        for arm, offset, hatch in (("current", 0.17, None), ("doctors_choice", -0.17, "//")):
            if row[arm] is None:
                continue
            errors = [panel.DIVERGED_ERROR if e is None else e for e in row[arm]["final_test_error"]["per_seed"]]
            colour = "tab:red" if row["warned_seeds"] else "tab:green"
            axis.barh(y + offset, 100 * np.mean(errors), height=0.32, color=colour if arm == "current" else "white",
                      edgecolor=colour, hatch=hatch, alpha=0.85)
            axis.plot(100 * np.array(errors), [y + offset] * len(errors), "k.", ms=4)
            if arm == "doctors_choice":
                axis.text(1, y + offset, f"doctor: {row[arm]['method']}", va="center", fontsize=7)
    chance = 100 * (1 - 1 / 9)
    axis.axvline(chance, color="grey", ls="--", lw=1)
    axis.axvline(chance - 100 * panel.TRAINED_BELOW_CHANCE, color="grey", ls=":", lw=1)
    axis.set_yticks(range(len(rows)))
    axis.set_yticklabels([f"{row['label']} ({row['expected']})" for _, row in reversed(rows)], fontsize=7)
    axis.set_xlim(0, 105)
    axis.set_xlabel("final test error (%): bar = mean over seeds (diverged = 100%), dots = seeds")
    axis.set_title(f"Init doctor calibration panel ({report['profile']} profile)\nred: warned, green: no warning; "
                   "hatched: the doctor's recommendation;\ndashed line: chance; dotted line: 'trained' below it",
                   fontsize=8)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path = pathlib.Path(workdir) / "panel.png"
    figure.savefig(path, dpi=plots.DPI)
    plt.close(figure)
    return path
