"""Zhang, Dauphin & Ma 2019 (Fixup), with SkipInit and ReZero: residual nets of 1,000 layers
(10,000 on a GPU) train without normalization when the initialization tames the stream.

    python -m reproductions.zhang2019                      # quick profile (default)
    python -m reproductions.zhang2019 --profile full       # for a GPU
    python -m reproductions.zhang2019 --plot-only          # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run), `signal.json` (the signal at
initialization, measured before the sweep, `signal.py`), `depth_accuracy.png`,
`signal_at_init.png`, `report.json` and `report.md`. Settings, profiles, criteria and what
the quick profile changes for a CPU: `reproductions/configs/zhang2019.py`; claims:
`reproductions/zhang2019/claims.py`.
"""

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import zhang2019 as zhang2019_config
from reproductions.zhang2019.signal import measure_signal, read_signal


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the run folders and signal.json."""
    from reproductions.zhang2019 import claims, figures

    signal = read_signal(workdir)
    report = claims.build_report(runs, profile, signal)
    figures.draw_depth_accuracy(workdir, report)
    figures.draw_signal(workdir, signal)
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="zhang2019")


def main(argv=None):
    driver.run_driver(argv, __doc__, zhang2019_config, "workdirs/zhang2019", redraw, prepare=measure_signal)
