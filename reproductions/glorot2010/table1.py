"""Glorot & Bengio 2010, Table 1: our final test errors beside the paper's (`table1.md`)."""

from reproductions import report as reporting
from reproductions.runs import diverged_count, final_test_errors, seed_summary, select

PAPER_TABLE1 = {  # test error %, 5 hidden layers (Glorot & Bengio 2010, Table 1)
    ("softsign", "standard"): {"shapeset3x2": 16.27, "mnist": 1.64, "cifar10": 55.78},
    ("softsign", "normalized"): {"shapeset3x2": 16.06, "mnist": 1.72, "cifar10": 53.8},
    ("tanh", "standard"): {"shapeset3x2": 27.15, "mnist": 1.76, "cifar10": 55.9},
    ("tanh", "normalized"): {"shapeset3x2": 15.60, "mnist": 1.64, "cifar10": 52.92},
    ("sigmoid", "standard"): {"shapeset3x2": 82.61, "mnist": 2.21, "cifar10": 57.28},
}
PAPER_ROW_NAMES = {("softsign", "standard"): "Softsign", ("softsign", "normalized"): "Softsign N",
                   ("tanh", "standard"): "Tanh", ("tanh", "normalized"): "Tanh N",
                   ("sigmoid", "standard"): "Sigmoid"}


def table1_rows(runs, combinations, datasets):
    """Per (activation, init), the paper's rows first: final test error over seeds per
    dataset, with the paper's number."""
    ordered = ([k for k in PAPER_TABLE1 if k in combinations]
               + [k for k in combinations if k not in PAPER_TABLE1])
    rows = []
    for activation, init in ordered:
        row = {"activation": activation, "init": init,
               "paper_name": PAPER_ROW_NAMES.get((activation, init)), "datasets": {}}
        for dataset in datasets:
            group = select(runs, dataset=dataset, activation=activation, init=init)
            row["datasets"][dataset] = {
                "final_test_error": seed_summary(final_test_errors(group)),
                "diverged": diverged_count(group),
                "paper_percent": PAPER_TABLE1.get((activation, init), {}).get(dataset)}
        rows.append(row)
    return rows


def _mean_std(summary):
    if summary["mean"] is None:
        return "-"
    std = f" +- {reporting.percent(summary['std'], 2)}" if summary["std"] is not None else ""
    return f"{reporting.percent(summary['mean'], 2)}{std}"


def table1_markdown(report):
    budget = report["budget"]
    datasets = report["datasets"]
    rows = []
    for row in report["table1"]:
        cells = []
        for dataset in datasets:
            cell = row["datasets"][dataset]
            diverged = f" ({cell['diverged']} diverged)" if cell["diverged"] else ""
            paper = cell["paper_percent"]
            cells += [_mean_std(cell["final_test_error"]) + diverged, "-" if paper is None else f"{paper:g}"]
        rows.append((row["paper_name"] or "(extra)", row["activation"], row["init"], *cells))
    columns = ("row", "activation", "init", *(f"{kind} {d}" for d in datasets for kind in ("ours", "paper")))
    lines = ["# Table 1: test error (%), 5 hidden layers", "",
             f"Ours: mean +- std over seeds {report['seeds']} after {budget['steps']:,} updates of batch "
             f"{budget['batch_size']} (the paper: {budget['paper_steps']:,}, "
             f"{budget['paper_steps'] / budget['steps']:.0f}x more), width {budget['width']} (the paper: "
             f"{budget['paper_width']}), plain SGD, one learning rate per combination (`report.json`, "
             "budget.learning_rate). The paper's numbers need millions of updates: compare the "
             "ordering and the gaps, "
             "not the values.", "",
             *reporting.markdown_table(columns, rows)]
    return "\n".join(lines) + "\n"
