"""Learned initialization: the final-error tables, what GradInit and MetaInit learn, the
claims (criteria in `reproductions/configs/learned_init.py`, fixed before the runs) and the
report.

Each claim's margin (`reproductions.margins`) is measured on its worst seed; a diverged
seed counts as chance where that gives the criterion's own verdict.
"""

import json
import pathlib

import numpy as np

from reproductions import margins
from reproductions import report as reporting
from reproductions import run_folder
from reproductions.configs import learned_init as config
from reproductions.runs import chance_error, fact, final_error, seed_summary, select

LEARNED = ("gradinit", "metainit", "metainit_data")  # rows whose runs hold learned_init.json
CLAIMED = ("gradinit", "metainit")  # the learned_raise_hidden_scales claim (fixed before the runs)


def _sorted(group):
    return sorted(group, key=lambda r: r["config"]["seed"])


def final_table(runs):
    """{experiment: {row: {"label", "final_test_error": seed_summary, "diverged": n,
    "chance": chance error}}} in the config's row order."""
    table = {}
    for experiment in ("plain", "residual"):
        rows = {}
        for key, label in config.ROWS:
            group = _sorted(select(runs, experiment=experiment, row=key))
            if group:
                rows[key] = {"label": label, "final_test_error": seed_summary([final_error(r) for r in group]),
                             "diverged": sum(r["final"]["status"] == "diverged" for r in group),
                             "chance": chance_error(group[0]), "depth": fact(group[0], "depth")}
        if rows:
            table[experiment] = rows
    return table


def _learned_summary(run):
    path = pathlib.Path(run["dir"]) / run_folder.LEARNED_INIT_FILE
    return json.loads(path.read_text()) if path.exists() else None


def learned_table(runs):
    """{experiment: {method: {"layers": [...], "kinds": [...], "factors": [[per layer] per seed],
    "seconds": [per seed], "objective": [[per iteration] per seed], "objective_name": str}}}:
    the factor each learned init gave each kernel (norm after / norm drawn), in the model's
    order, read from the runs' learned_init.json."""
    table = {}
    for experiment in ("plain", "residual"):
        methods = {}
        for method in LEARNED:
            summaries = [s for s in (_learned_summary(r) for r in _sorted(select(runs, experiment=experiment,
                                                                                 row=method))) if s]
            if not summaries:
                continue
            kernels = [[r for r in s["records"] if len(r["shape"]) >= 2] for s in summaries]
            key = "gradient_quotient" if method.startswith("metainit") else "objective"
            methods[method] = {
                # A scanned stack's kernels share one layer: name them by their weight too.
                "layers": [r["layer"] if r["weight"] == "kernel" else f"{r['layer']}/{r['weight']}"
                           for r in kernels[0]],
                "kinds": ["conv" if len(r["shape"]) >= 4 else "dense" for r in kernels[0]],
                "factors": [[r["factor"] for r in records] for records in kernels],
                "seconds": [s["seconds"] for s in summaries],
                "iterations": summaries[0]["settings"]["iterations"],
                "objective_name": key,
                "objective": [[h[key] for h in s["history"]] for s in summaries],
                "data": summaries[0]["settings"].get("data"),
                "constrained_iterations": [sum(bool(h.get("constrained")) for h in s["history"])
                                           for s in summaries] if method == "gradinit" else None,
            }
        if methods:
            table[experiment] = methods
    return table


def _trains(table, experiment, key):
    row = (table.get(experiment) or {}).get(key)
    if row is None:
        return None
    threshold = row["chance"] - config.TRAINS_BELOW
    seeds = row["final_test_error"]["per_seed"]
    return reporting.claim(
        f"{key}_trains_{experiment}{row['depth']}",
        f"{row['depth']}-layer {experiment} net: every seed of {row['label']} ends with test error <= chance - "
        f"{config.TRAINS_BELOW:g} ({threshold:.4f}); a diverged seed fails",
        {"final_test_error": seeds},
        margins.every_seed(seeds, threshold, "<=", "highest seed's final test error (diverged = chance)",
                           diverged=row["chance"]))


def claims(table, learned):
    found = []
    plain = table.get("plain") or {}
    if "xavier" in plain:
        row = plain["xavier"]
        threshold = row["chance"] - config.STALLED_WITHIN
        seeds = row["final_test_error"]["per_seed"]
        found.append(reporting.claim(
            f"xavier_stalls_plain{row['depth']}",
            f"{row['depth']}-layer plain net: every seed of {row['label']} ends with test error >= chance - "
            f"{config.STALLED_WITHIN:g} ({threshold:.4f}), as in He et al.'s Fig. 3",
            {"final_test_error": seeds},
            margins.every_seed(seeds, threshold, ">=", "lowest seed's final test error")))
    for key in ("gradinit", "metainit", "metainit_data", "lsuv"):
        item = _trains(table, "plain", key)
        if item:
            found.append(item)
    methods = (learned.get("plain") or {})
    if all(m in methods for m in CLAIMED):
        lowest, per_seed = {}, []
        for method in CLAIMED:
            entry = methods[method]
            conv = [i for i, kind in enumerate(entry["kinds"]) if kind == "conv"]
            seeds = [min(seed[i] for i in conv) for seed in entry["factors"]]
            lowest[method] = min(seeds)
            per_seed = seeds if not per_seed else [min(a, b) for a, b in zip(per_seed, seeds)]
        found.append(reporting.claim(
            "learned_raise_hidden_scales",
            "Plain net from Xavier's init: GradInit and MetaInit end with every convolution's factor (norm after / "
            "norm drawn) > 1 on every seed, towards He's sqrt(2) (criterion set after a pilot on seed 0)",
            {"lowest_conv_factor": lowest},
            margins.every_seed(per_seed, 1.0, ">", "lowest convolution factor of a seed (either method)")))
    for key in ("gradinit", "metainit"):
        item = _trains(table, "residual", key)
        if item:
            found.append(item)
    residual = table.get("residual") or {}
    if "he" in residual:
        row = residual["he"]
        threshold = row["chance"] - config.TRAINS_BELOW
        seeds = row["final_test_error"]["per_seed"]
        found.append(reporting.claim(
            f"he_fails_residual{row['depth']}",
            f"{row['depth']}-layer residual net without normalization: every seed of {row['label']} diverges or "
            f"ends with test error > chance - {config.TRAINS_BELOW:g} ({threshold:.4f})",
            {"final_test_error": seeds, "all_diverged": all(e is None for e in seeds)},
            margins.every_seed(seeds, threshold, ">", "lowest seed's final test error (diverged = chance)",
                               diverged=row["chance"])))
    return found


def redraw_report(report, workdir=None):
    """The report with its claims redrawn from its own tables (the run folders are not
    committed)."""
    rows = [key for key, _ in config.ROWS]
    report = {**reporting.numeric_order(report),
              "final": {experiment: reporting.in_order(table, rows) for experiment, table in report["final"].items()}}
    return {**report, "claims": claims(report["final"], report["learned"])}


def build_report(workdir, runs, profile):
    """report.json's content: claims, the final-error tables and what the inits learned."""
    table = final_table(runs)
    learned = learned_table(runs)
    budgets = {}
    for experiment in table:
        first = select(runs, experiment=experiment)[0]["config"]
        budgets[experiment] = {"dataset": first["dataset"], "depth": first["tags"]["depth"], "model": first["model"],
                               "steps": first["steps"], "learning_rate": first["learning_rate"],
                               "batch_size": first["batch_size"], "optimizer": "SGD momentum 0.9"}
    return {
        "paper": "learned_init",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": ", ".join(sorted({b["dataset"] for b in budgets.values()})),
        "budget": budgets,
        "claims": claims(table, learned),
        "final": table,
        "learned": learned,
        "he_relu_factor": config.HE_RELU_FACTOR,
    }


def _cell(row):
    summary = row["final_test_error"]
    if summary.get("mean") is None:
        return "diverged"
    text = f"{reporting.percent(summary['mean'])} +- {reporting.percent(summary['std'] or 0.0)}"
    seeds = ", ".join("div." if e is None else reporting.percent(e) for e in summary["per_seed"])
    return f"{text} ({seeds})"


def factor_lines(report):
    """Markdown: the factor per layer (mean over seeds [min, max]) of each learned init on
    the plain net, next to He's sqrt(2)."""
    lines = []
    for experiment, methods in report["learned"].items():
        names = [m for m in LEARNED if m in methods]
        if not names:
            continue
        layers = methods[names[0]]["layers"]
        rows = []
        for index, layer in enumerate(layers):
            cells = []
            for method in names:
                values = [seed[index] for seed in methods[method]["factors"]]
                cells.append(f"{np.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]")
            rows.append((index + 1, layer, methods[names[0]]["kinds"][index], *cells))
        lines += [f"Learned factor per kernel, {experiment} net (norm after / norm drawn from Xavier's init; mean "
                  f"[min, max] over seeds). He's rule relative to Xavier's: {report['he_relu_factor']:.3f} per ReLU "
                  "layer:", "",
                  *reporting.markdown_table(("#", "layer", "kind", *names), rows), ""]
        cost = [(m, methods[m]["iterations"], f"{np.mean(methods[m]['seconds']):.1f}") for m in names]
        lines += [f"Cost on the {experiment} net (wall seconds of the learned init per run, mean over seeds; the "
                  "machine: env.json):", "",
                  *reporting.markdown_table(("method", "iterations", "seconds"), cost), ""]
    return lines


def report_markdown(report):
    budget = report["budget"]
    setting = "; ".join(
        f"{experiment}: {b['depth']} layers ({b['model']}), {b['dataset']}, {b['steps']} updates of {b['optimizer']} "
        f"at lr {b['learning_rate']:g}, batch {b['batch_size']}" for experiment, b in budget.items())
    sections = []
    for experiment, rows in report["final"].items():
        sections.append([f"Final test error (%), {experiment} net, mean +- std over seeds (per seed); chance "
                         f"{reporting.percent(next(iter(rows.values()))['chance'])}%:", "",
                         *reporting.markdown_table(("row", "final test error"),
                                                   [(row["label"], _cell(row)) for row in rows.values()])])
    sections.append(factor_lines(report))
    return reporting.report_markdown(f"Learned initialization (GradInit, MetaInit): claims ({report['profile']} "
                                     "profile)", f"Seeds {report['seeds']}; {setting}.", report["claims"], sections)
