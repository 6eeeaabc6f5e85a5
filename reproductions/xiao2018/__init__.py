"""Xiao et al. 2018: 1,000-layer vanilla tanh CNNs train with delta-orthogonal kernels at
the critical point (10,000 on a GPU), and why (dynamical isometry).

    python -m reproductions.xiao2018                      # quick profile (default)
    python -m reproductions.xiao2018 --profile full       # for a GPU
    python -m reproductions.xiao2018 --plot-only          # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run), `spectra.json` (Jacobian spectra
at initialization, measured before the sweep, `spectra.py`), `depth_curves.png`,
`trainability_map.png`, `jacobian_spectra.png`, `report.json` and `report.md`. Settings,
profiles, criteria and what the quick profile changes for a CPU:
`reproductions/configs/xiao2018.py`; claims: `reproductions/xiao2018/claims.py`.
"""

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import xiao2018 as xiao2018_config
from reproductions.xiao2018.spectra import measure_spectra, read_spectra


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the run folders and spectra.json."""
    from reproductions.xiao2018 import claims, figures

    spectra = read_spectra(workdir)
    report = claims.build_report(runs, profile, spectra)
    figures.draw_depth_curves(workdir, runs, report)
    figures.draw_map(workdir, report)
    figures.draw_spectra(workdir, spectra)
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="xiao2018")


def main(argv=None):
    driver.run_driver(argv, __doc__, xiao2018_config, "workdirs/xiao2018", redraw, prepare=measure_spectra)
