"""The init doctor's calibration panel: verdicts on known-good and known-bad nets, checked
against training from the current init and from the doctor's recommendation.

    python -m reproductions.doctor_panel                   # quick profile (default)
    python -m reproductions.doctor_panel --profile full    # for a GPU
    python -m reproductions.doctor_panel --plot-only       # redraw from the logs only

Writes into the workdir: `verdicts/` (the doctor's verdict per net and seed, JSON, and its
report, markdown), `runs/*/` (one folder per run), `panel.png`, `report.json` and
`report.md`. Before the sweep every net is examined (the verdicts resume too); a net the
doctor warns about gets a second run per seed, from the doctor's recommendation. Nets,
settings, profiles, criteria and runtimes: `reproductions/configs/doctor_panel.py`;
claims: `reproductions/doctor_panel/claims.py`.
"""

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import doctor_panel as panel_config
from reproductions.doctor_panel.verdicts import load_verdicts, measure_verdicts, with_recommended_runs


def redraw(workdir, profile, configs, runs):
    """panel.png, report.json and report.md from the run folders and the verdicts."""
    from reproductions.doctor_panel import claims, figures

    current = [config for config in configs if config.tags["arm"] == "current"]
    seeds = sorted({run["config"]["seed"] for run in runs})
    judged = load_verdicts(workdir, current + panel_config.judged_only_configs(profile), seeds)
    report = claims.build_report(runs, judged, profile, seeds)
    figures.draw_panel(workdir, report)
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="doctor_panel")


def prepare(workdir, profile, configs, seeds):
    """The doctor's verdicts on the trained nets and on those judged only."""
    measure_verdicts(workdir, profile, configs + panel_config.judged_only_configs(profile), seeds)


def main(argv=None):
    driver.run_driver(argv, __doc__, panel_config, "workdirs/doctor_panel", redraw, prepare=prepare,
                      expand=with_recommended_runs)
