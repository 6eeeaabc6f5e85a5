"""Depth x initialization trainability maps, with mean-field theory and LSUV.

    python -m reproductions.trainability                      # quick profile (default)
    python -m reproductions.trainability --profile full       # for a GPU
    python -m reproductions.trainability --plot-only          # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run), `map1_test_error.png`,
`map1_leave_chance.png`, `map2_accuracy.png`, `fidelity.json` (map 1's nets against the
paper-size net at initialization, `reproductions.fidelity`), `report.json` and `report.md`. The
`lr_search` profile writes `lr_search.md` instead. Settings, profiles, criteria and
runtimes: `reproductions/configs/trainability.py`; claims:
`reproductions/trainability/claims.py`.
"""

import functools

from reproductions import driver, fidelity
from reproductions import report as reporting
from reproductions.configs import trainability as trainability_config
from reproductions.trainability.lr_search import lr_search_markdown


# Before the sweep (`prepare`) and at redraw: the fidelity gauge of the profile's plain nets.
gauge_fidelity = functools.partial(fidelity.profile_fidelity, trainability_config)


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the loaded runs."""
    from reproductions.trainability import claims, figures

    report = claims.build_report(runs, profile, gauge_fidelity(workdir, profile, configs))
    figures.draw_map1(workdir, runs, report)
    figures.draw_map2(workdir, runs, report)
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="trainability")


def main(argv=None):
    driver.run_driver(argv, __doc__, trainability_config, "workdirs/trainability", redraw,
                      prepare=gauge_fidelity,
                      search_report=lr_search_markdown)
