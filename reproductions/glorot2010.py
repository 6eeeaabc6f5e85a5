"""Reproduce Glorot & Bengio 2010 (deep MLPs: standard vs normalized initialization).

    python -m reproductions.glorot2010                       # quick profile (default)
    python -m reproductions.glorot2010 --profile full        # width 1000, 3 datasets, for a GPU
    python -m reproductions.glorot2010 --plot-only           # redraw from the logs only

Writes into the workdir: `init/` (diagnostics at initialization: tanh, full width,
standard vs normalized, one JSON per seed), `runs/*/` (one folder per run, with
`activations.jsonl`, per-layer activation statistics on 300 fixed test examples
every `record_every` updates), the figures `fig2_sigmoid_activations.png`,
`fig3_saturation.png`, `fig4_final_histograms.png`, `fig6_activations_at_init.png`,
`fig7_backprop_gradients_at_init.png`, `fig8_weight_gradients_at_init.png`,
`fig11_test_error.png`, `table1.md`, `report.json` and `report.md`. The
`lr_search` profile writes `lr_search.md` instead. Settings, profiles and
runtimes: `reproductions/configs/glorot2010.py`.
"""

import pathlib

import numpy as np

from reproductions import cli, data, harness
from reproductions.configs import glorot2010 as glorot_config


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}"


def _combination(config):
    """(dataset, activation, init key) of a run config."""
    name = config["name"].split("_", 1)[1] if config["name"].startswith("lr") else config["name"]
    dataset = config["dataset"]
    activation, init = name[len(dataset) + 1:].split("_", 1)
    return dataset, activation, init


def lr_search_markdown(runs):
    """Final validation error per combination and learning rate; the pick per combination."""
    table = {}
    for run in runs:
        config = run["config"]
        error = run["final"]["final"]["test_error"] if run["final"]["status"] == "completed" else None
        table.setdefault(_combination(config), {})[config["learning_rate"]] = error
    rates = sorted({rate for by_rate in table.values() for rate in by_rate})
    first = runs[0]["config"]
    lines = ["# Learning-rate search (validation set)", "",
             f"{first['steps']} updates of batch {first['batch_size']}, plain SGD, width "
             f"{first['model_kwargs']['width']}, {first['model_kwargs']['depth']} hidden layers, seed "
             f"{first['seed']}, final error on {first['eval_examples']} validation examples (%).", "",
             "Rule: per combination, the rate with the lowest final validation error "
             "(diverged = 100%, shown as `div`; ties go to the smaller rate).", "",
             "| dataset | activation | init | " + " | ".join(f"lr {r:g}" for r in rates) + " | pick |",
             "|---" * (len(rates) + 4) + "|"]
    picks = {}
    for (dataset, activation, init), by_rate in sorted(table.items()):
        score = {rate: 1.0 if error is None else error for rate, error in by_rate.items()}
        best = min(sorted(score), key=score.get)
        picks[activation, init] = best
        cells = [("div" if by_rate[r] is None else _percent(by_rate[r])) if r in by_rate else "" for r in rates]
        lines.append(f"| {dataset} | {activation} | {init} | " + " | ".join(cells) + f" | {best:g} |")
    lines += ["", "As `QUICK_LEARNING_RATES` in `reproductions/configs/glorot2010.py`:", "", "```python",
              "{" + ", ".join(f"({a!r}, {i!r}): {r:g}" for (a, i), r in sorted(picks.items())) + "}",
              "```", ""]
    return "\n".join(lines)


def redraw(workdir, profile, configs, runs):
    workdir = pathlib.Path(workdir)
    if profile == "lr_search":
        text = lr_search_markdown(runs)
        (workdir / "lr_search.md").write_text(text)
        return text
    raise NotImplementedError


def main(argv=None):
    cli.run_driver(argv, __doc__, glorot_config, "workdirs/glorot2010", redraw)


if __name__ == "__main__":
    main()
