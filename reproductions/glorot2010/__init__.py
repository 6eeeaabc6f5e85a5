"""Reproduce Glorot & Bengio 2010 (deep MLPs: standard vs normalized initialization).

    python -m reproductions.glorot2010                       # quick profile (default)
    python -m reproductions.glorot2010 --profile full        # width 1000, 3 datasets, for a GPU
    python -m reproductions.glorot2010 --plot-only           # redraw from the logs only

Writes into the workdir: `init/` (diagnostics at initialization: tanh, full width,
standard vs normalized, one JSON per seed), `runs/*/` (one folder per run, with
`activations.jsonl`: per-layer statistics of activations, back-propagated and
weight gradients on 300 fixed test examples at step 0 and at every evaluation),
the figures `fig2_sigmoid_activations.png`,
`fig3_saturation.png`, `fig4_final_histograms.png`, `fig6_activations_at_init.png`,
`fig7_backprop_gradients_at_init.png`, `fig8_weight_gradients_at_init.png`,
`fig11_test_error.png` (and `fig12_test_error_<dataset>.png` for MNIST and
CIFAR-10 with the full profile), `table1.md`, `report.json` and `report.md`. The
`lr_search` profile writes `lr_search.md` instead. Settings, profiles and
runtimes: `reproductions/configs/glorot2010.py`; claims:
`reproductions/glorot2010/claims.py`.
"""

import pathlib

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import glorot2010 as glorot_config
from reproductions.glorot2010 import claims, figures
from reproductions.glorot2010.lr_search import lr_search_markdown
from reproductions.glorot2010.measure import load_init_measurements, prepare, recorder_callbacks
from reproductions.glorot2010.table1 import table1_markdown


def redraw(workdir, profile, configs, runs):
    """Figures, table1.md, report.json and report.md from the logs."""
    report = claims.build_report(workdir, profile, configs, runs)
    figures.draw_error_curves(workdir, configs, runs, report["datasets"])
    figures.draw_training_figures(workdir, runs, report["dataset"])
    figures.draw_init_figures(workdir, load_init_measurements(workdir, profile, report["dataset"],
                                                              report["seeds"]))
    table = table1_markdown(report)
    (pathlib.Path(workdir) / "table1.md").write_text(table)
    text = reporting.write_report(workdir, report, claims.report_markdown(report), paper="glorot2010")
    return table + "\n" + text


def main(argv=None):
    driver.run_driver(argv, __doc__, glorot_config, "workdirs/glorot2010", redraw,
                      callbacks_for=recorder_callbacks, prepare=prepare,
                      search_report=lr_search_markdown)
