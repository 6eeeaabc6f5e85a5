"""The trainability maps' learning-rate search table (`lr_search.md`, the `lr_search` profile)."""

from reproductions import report as reporting
from reproductions.configs import trainability as config
from reproductions.runs import fact, final_error, select


def _errors(runs):
    """{rate: [validation error per run, diverged = 1.0]}."""
    table = {}
    for run in runs:
        error = final_error(run)
        table.setdefault(fact(run, "learning_rate"), []).append(1.0 if error is None else error)
    return table


def lr_search_markdown(runs):
    """Map 1: per depth, validation error per init and rate, the rate with the lowest mean
    over the seven inits. Map 2: the rate with the lowest mean validation error over
    every (sigma_w^2, depth) cell. Both rules fixed before the search."""
    inits = [key for key, _, _ in config.MAP1_INITIALIZERS]
    lines = [reporting.LR_SEARCH_TITLE, "",
             "Rules: map 1, per depth, the rate with the lowest validation error averaged over all "
             "seven initializers; map 2, the rate with the lowest validation error averaged over "
             "all cells (diverged = 100%).", "", "## Map 1 (ReLU plain nets)", ""]
    relu = select(runs, map="relu")
    picks = {"map1": {}}
    rows = []
    for depth in sorted({fact(run, "depth") for run in relu}):
        at_depth = select(relu, depth=depth)
        best, means = reporting.lowest_mean_rate(_errors(at_depth))
        picks["map1"][depth] = best
        for rate, mean in means.items():
            errors = [_errors(select(at_depth, init=init, learning_rate=rate)).get(rate) for init in inits]
            rows.append((depth, f"{rate:g}", *(reporting.percent(e[0] if e else None) for e in errors),
                         reporting.percent(mean), "**pick**" if rate == best else ""))
    lines += reporting.markdown_table(("depth", "lr", *inits, "mean", ""), rows)
    tanh = select(runs, map="tanh")
    if tanh:
        best, means = reporting.lowest_mean_rate(_errors(tanh))
        picks["map2"] = best
        lines += ["", "## Map 2 (tanh MLPs)", "",
                  *reporting.markdown_table(("lr", "mean validation error over cells (%)", ""),
                                            [(f"{rate:g}", reporting.percent(mean),
                                              "**pick**" if rate == best else "")
                                             for rate, mean in means.items()])]
    lines += ["", "As `QUICK_LEARNING_RATES` in `reproductions/configs/trainability.py`:", "",
              "```python", repr(picks), "```", ""]
    return "\n".join(lines)
