"""Learned initialization (GradInit, MetaInit) against He's rule and LSUV: He et al.'s
30-layer plain ReLU net started from Xavier's init, a 100-layer residual net without
normalization, and what the learned scales are layer by layer.

    python -m reproductions.learned_init                      # quick profile (default)
    python -m reproductions.learned_init --profile full       # for a GPU
    python -m reproductions.learned_init --plot-only          # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run; GradInit and MetaInit runs also
`learned_init.json`: factors and objective per iteration), `plain30_curves.png`,
`residual_curves.png`, `learned_factors.png`, `report.json` and `report.md`. Settings,
profiles and criteria: `reproductions/configs/learned_init.py`; claims:
`reproductions/learned_init/claims.py`.
"""

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import learned_init as learned_init_config


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the run folders."""
    from reproductions.learned_init import claims, figures

    report = claims.build_report(workdir, runs, profile)
    figures.draw_curves(workdir, runs, report)
    figures.draw_factors(workdir, report)
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="learned_init")


def main(argv=None):
    driver.run_driver(argv, __doc__, learned_init_config, "workdirs/learned_init", redraw)
