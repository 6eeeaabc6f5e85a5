"""The Glorot & Bengio learning-rate search table (`lr_search.md`, the `lr_search` profile)."""

from reproductions import report as reporting
from reproductions.runs import fact, final_error, final_loss


def lr_search_markdown(runs):
    """Final validation error per combination and learning rate; the pick per combination.

    Rule (fixed before the final search): per combination, the rate with the lowest
    final validation error (a diverged run counts as 100%), ties broken by the lower
    final validation loss, then by the smaller rate.
    """
    table = {}  # (dataset, activation, init) -> {rate: (error, loss)}
    for run in runs:
        key = (fact(run, "dataset"), fact(run, "activation"), fact(run, "init"))
        table.setdefault(key, {})[fact(run, "learning_rate")] = (final_error(run), final_loss(run))
    rates = sorted({rate for by_rate in table.values() for rate in by_rate})
    picks, rows = {}, []
    for key, by_rate in sorted(table.items()):
        dataset, activation, init = key

        def score(rate):
            error, loss = by_rate[rate]
            return (1.0 if error is None else error, float("inf") if loss is None else loss, rate)

        best = min(by_rate, key=score)
        picks[activation, init] = best
        cells = [("div" if by_rate[r][0] is None else reporting.percent(by_rate[r][0], 2))
                 if r in by_rate else "" for r in rates]
        rows.append((dataset, activation, init, *cells, f"{best:g}"))
    first = runs[0]["config"]
    lines = [reporting.LR_SEARCH_TITLE, "",
             f"{first['steps']} updates of batch {first['batch_size']}, plain SGD, width "
             f"{first['model_kwargs']['width']}, {first['model_kwargs']['depth']} hidden layers, seed "
             f"{first['seed']}, final error on {first['eval_examples']} validation examples (%).", "",
             "Rule: per combination, the rate with the lowest final validation error (diverged = 100%, "
             "shown as `div`); ties broken by the lower final validation loss, then by the smaller rate.", "",
             *reporting.markdown_table(("dataset", "activation", "init", *(f"lr {r:g}" for r in rates), "pick"),
                                       rows),
             "", "As `QUICK_LEARNING_RATES` in `reproductions/configs/glorot2010.py`:", "", "```python",
             "{" + ", ".join(f"({a!r}, {i!r}): {r:g}" for (a, i), r in sorted(picks.items())) + "}",
             "```", ""]
    return "\n".join(lines)
