"""Reproduce He et al. 2015, Figs. 2 and 3 (22- and 30-layer plain ReLU nets).

    python -m reproductions.he2015                       # faithful profile (default): the paper's picture
    python -m reproductions.he2015 --profile quick       # a fast look, not faithful
    python -m reproductions.he2015 --profile full        # CIFAR-10, for a GPU
    python -m reproductions.he2015 --plot-only           # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run, with `gradients.jsonl`,
the per-layer kernel-gradient norms on a fixed batch at every evaluation),
`fig2_22layer.png`, `fig3_30layer.png`, `gradients_30layer.png`, `fidelity.json`
(the fidelity gauge: how much signal the profile's nets keep at initialization next to
the paper-size net, `reproductions.fidelity`), `report.json` and `report.md`. The `lr_search` profile writes `lr_search.md` instead. Settings,
profiles and runtimes: `reproductions/configs/he2015.py`; claims:
`reproductions/he2015/claims.py`.
"""

import functools
import pathlib

from reproductions import driver, fidelity
from reproductions import report as reporting
from reproductions.configs import he2015 as he_config
from reproductions.he2015 import claims, figures
from reproductions.he2015.lr_search import lr_search_markdown
from reproductions.he2015.measure import gradient_callbacks


# Before the sweep (`prepare`) and at redraw: the fidelity gauge of the profile's plain nets.
gauge_fidelity = functools.partial(fidelity.profile_fidelity, he_config)


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the loaded runs."""
    figures.draw_error_curves(workdir, profile, configs, runs)
    figures.plot_gradients(runs, pathlib.Path(workdir) / "gradients_30layer.png")
    report = claims.build_report(runs, profile, gauge_fidelity(workdir, profile, configs))
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="he2015")


def main(argv=None):
    driver.run_driver(argv, __doc__, he_config, "workdirs/he2015", redraw,
                      callbacks_for=gradient_callbacks, prepare=gauge_fidelity,
                      search_report=lr_search_markdown)
