"""The He 2015 learning-rate search table (`lr_search.md`, the `lr_search` profile)."""

from reproductions import report as reporting
from reproductions.configs import he2015 as he_config
from reproductions.runs import fact, final_error


def lr_search_markdown(runs):
    """Validation error per learning rate and figure, averaged over initializers; the pick.

    Rule (fixed before the search): per figure, the rate with the lowest validation
    error averaged over all initializers (a diverged run, or a missing one, counts
    as 1.0), so no initializer is favoured.
    """
    lines = [reporting.LR_SEARCH_TITLE, "",
             "Rule: per figure, the rate with the lowest validation error averaged over all "
             "initializers (diverged = 1.0).", ""]
    table = {}
    for run in runs:
        error = final_error(run)
        table.setdefault(fact(run, "figure"), {}).setdefault(fact(run, "learning_rate"), {})[
            fact(run, "init")] = 1.0 if error is None else error
    inits = [name for name, _, _ in he_config.INITIALIZERS]
    for figure, by_rate in sorted(table.items()):
        best, means = reporting.lowest_mean_rate(
            {rate: [errors.get(i, 1.0) for i in inits] for rate, errors in by_rate.items()})
        rows = [(f"{rate:g}", *(reporting.percent(errors.get(i)) for i in inits),
                 reporting.percent(means[rate])) for rate, errors in sorted(by_rate.items())]
        lines += [f"## {figure} ({he_config.FIGURES[figure]} layers)", "",
                  *reporting.markdown_table(("lr", *inits, "mean"), rows),
                  "", f"Chosen for {figure}: lr = {best:g}", ""]
    return "\n".join(lines)
