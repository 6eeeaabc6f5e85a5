"""μP learning-rate transfer and the coordinate check (Yang et al. 2022, Tensor Programs V).

    python -m reproductions.yang2022                      # quick profile (default)
    python -m reproductions.yang2022 --profile full       # for a GPU
    python -m reproductions.yang2022 --plot-only          # redraw from the logs only

Writes into the workdir: `runs/*/` (one folder per run; μP runs add `mup.json`, each
weight's rule), `coord_check.json` and `coord_check_transformer.json` (measured before
the sweep, `coord.py`), `lr_transfer_<optimizer>.png`, `coord_check.png`,
`coord_check_transformer.png`, `report.json` and `report.md`. Settings,
profiles, criteria and runtimes: `reproductions/configs/yang2022.py`; claims:
`reproductions/yang2022/claims.py`.
"""

from reproductions import driver
from reproductions import report as reporting
from reproductions.configs import yang2022 as yang2022_config
from reproductions.yang2022.coord import TRANSFORMER_COORD_FILE, measure_coord_check, read_coord_check


def redraw(workdir, profile, configs, runs):
    """Figures, report.json and report.md from the run folders and coord_check.json."""
    from reproductions.yang2022 import claims, figures

    coord, transformer = read_coord_check(workdir), read_coord_check(workdir, TRANSFORMER_COORD_FILE)
    report = claims.build_report(runs, profile, coord, transformer)
    figures.draw_lr_transfer(workdir, report)
    figures.draw_coord_check(workdir, coord)
    figures.draw_coord_check(workdir, transformer, "coord_check_transformer.png", "Transformer")
    return reporting.write_report(workdir, report, claims.report_markdown(report), paper="yang2022")


def main(argv=None):
    driver.run_driver(argv, __doc__, yang2022_config, "workdirs/yang2022", redraw,
                      prepare=measure_coord_check)
