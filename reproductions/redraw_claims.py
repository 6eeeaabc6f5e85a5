"""Redraws committed claims reports from the values they hold: `report.json` and
`report.md` with every claim decided again, its margin and fragility
(`reproductions.margins`) included.

The committed results keep reports, figures and the small measurement files (spectra,
signal, coordinate checks), not the run folders; a driver's `--plot-only` needs the run
folders. This command decides each claim with the same claim functions the drivers use,
on the per-seed values the report's tables hold, so a committed report gains margins
without retraining; a claim's verdict never changes here (each claim's criterion is
evaluated directly too, and a disagreement is an error).

Usage: python -m reproductions.redraw_claims results/xiao2018/quick [more workdirs ...]
"""

import argparse
import importlib
import json
import pathlib
import sys

from reproductions import report as reporting

# report["paper"] -> the driver package whose `claims` module redraws it.
DRIVERS = {"he2015": "he2015", "glorot2010": "glorot2010", "trainability": "trainability",
           "xiao2018": "xiao2018", "yang2022": "yang2022", "zhang2019": "zhang2019",
           "learned_init": "learned_init", "doctor_panel": "doctor_panel"}


def redraw(workdir):
    """Rewrites `<workdir>/report.json` and `report.md`; returns the new report."""
    workdir = pathlib.Path(workdir)
    path = workdir / "report.json"
    if not path.exists():
        raise FileNotFoundError(f"No report.json in {workdir}. Received: workdir={workdir}")
    report = json.loads(path.read_text())
    paper = report.get("paper")
    if paper not in DRIVERS:
        raise ValueError(f"Unknown paper {paper!r} in {path}; known: {sorted(DRIVERS)}. Received: paper={paper!r}")
    claims = importlib.import_module(f"reproductions.{DRIVERS[paper]}.claims")
    before = {item["id"]: item["holds"] for item in report["claims"]}
    redrawn = claims.redraw_report(report, workdir)
    after = {item["id"]: item["holds"] for item in redrawn["claims"]}
    changed = {key: (before[key], after[key]) for key in before.keys() & after.keys() if before[key] != after[key]}
    if changed:
        raise ValueError(f"Redrawing {path} changed verdicts {changed}: the claim functions no longer say what the "
                         f"report said. Received: workdir={workdir}")
    reporting.write_report(workdir, redrawn, claims.report_markdown(redrawn), paper=paper)
    return redrawn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+", help="folders holding a report.json")
    args = parser.parse_args(argv)
    for workdir in args.workdirs:
        report = redraw(workdir)
        fragile = [item["id"] for item in report["claims"] if item["fragile"]]
        print(f"{workdir}: {reporting.verdict_counts(report['claims'])}"
              + (f"; fragile: {', '.join(fragile)}" if fragile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
