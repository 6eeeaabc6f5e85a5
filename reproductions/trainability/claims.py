"""Trainability maps: per-run status, per-init trainable depth, the claims (criteria in
`reproductions/configs/trainability.py`, fixed before the runs) and the report."""

import math


from initializers.diagnostics import mean_field
from reproductions import data, margins, mean_field_map
from reproductions import report as reporting
from reproductions.configs import trainability as config
from reproductions.fidelity import fidelity_markdown, stored_fidelity
from reproductions.runs import chance_error, fact, final_error, first_step_at_or_below, seed_summary, select


def trained(run):
    """Final test error <= chance - TRAINED_BELOW_CHANCE (a diverged run did not train)."""
    error = final_error(run)
    return error is not None and error <= chance_error(run) - config.TRAINED_BELOW_CHANCE


def updates_to_leave_chance(run):
    """First evaluated step with test error <= chance - LEFT_CHANCE_BELOW (None: never)."""
    return first_step_at_or_below(run, chance_error(run) - config.LEFT_CHANCE_BELOW)


def _depths(runs):
    return sorted({fact(run, "depth") for run in runs})


def map1_table(runs):
    """Per init (in config order), per depth: final test errors and statuses over seeds."""
    relu = select(runs, map="relu")
    table = {}
    for key, label, _ in config.MAP1_INITIALIZERS:
        group = select(relu, init=key)
        if not group:
            continue
        depths = {str(depth): {"final_test_error": seed_summary([final_error(r) for r in cell]),
                               "trained": [trained(r) for r in cell],
                               "updates_to_leave_chance": [updates_to_leave_chance(r) for r in cell]}
                  for depth in _depths(group) for cell in [select(group, depth=depth)]}
        deepest = _max_trained({key: {d: cell["trained"] for d, cell in depths.items()}}, key)
        table[key] = {"label": label, "max_trainable_depth": deepest or None, "depths": depths}
    return table


def map2_table(runs):
    """Per (sigma_w^2, depth) cell: accuracy over seeds, trained by majority, and theory."""
    return mean_field_map.map_cells(select(runs, map="tanh"), config.SIGMA_B2, trained)


def _trained_samples(table):
    """{init: {depth: trained per seed}} of map 1 (resampled by seed)."""
    return {key: {depth: list(cell["trained"]) for depth, cell in row["depths"].items()} for key, row in table.items()}


def _max_trained(samples, key):
    """The largest depth at which every (resampled) seed of `key` trained (0: none); the
    table's `max_trainable_depth` too."""
    return max((int(d) for d, trained in (samples.get(key) or {}).items() if trained and all(trained)), default=0)


def _stall_depth(samples):
    """The smallest depth at which no (resampled) seed of Xavier trained (None: none)."""
    return min((int(d) for d, trained in (samples.get("xavier") or {}).items() if not any(trained)), default=None)


def _he_worst_at_stall(samples, chance):
    """He's highest final test error (diverged = chance) at Xavier's stall depth (NaN: no
    stall depth)."""
    stall = _stall_depth(samples["trained"])
    he = (samples["errors"].get("he") or {}).get(str(stall))
    if stall is None or not he:
        return math.nan
    return max(chance if e is None else e for e in he)


def _lsuv_lead(samples):
    if "lsuv" not in samples or not _max_trained(samples, "lsuv"):
        return math.nan
    return _max_trained(samples, "lsuv") - _max_trained(samples, "he")


def map1_claims(table, chance):
    """The three claims of map 1 (`chance`: the dataset's chance error)."""
    depth = lambda key: (table.get(key) or {}).get("max_trainable_depth")
    he, xavier, lsuv = depth("he"), depth("xavier"), depth("lsuv")
    depths = sorted({int(d) for row in table.values() for d in row["depths"]})
    he_row = (table.get("he") or {}).get("depths", {})
    samples = _trained_samples(table)
    stall = _stall_depth(samples)
    errors = {key: {d: cell["final_test_error"]["per_seed"] for d, cell in row["depths"].items()}
              for key, row in table.items()}
    trained_below = chance - config.TRAINED_BELOW_CHANCE
    criterion = f"final test error <= chance - {config.TRAINED_BELOW_CHANCE:g}"
    return [
        reporting.claim(
            "he_trains_deeper_than_xavier",
            f"map 1: the largest depth at which every seed trained ({criterion}) is larger for He "
            "(fan_in) than for Xavier (Var = 1/fan_in); no trained depth counts as 0",
            {"he_max_trainable_depth": he, "xavier_max_trainable_depth": xavier, "depths": depths},
            margins.margin(lambda s: _max_trained(s, "he") - _max_trained(s, "xavier"), samples, 0, ">",
                           "He's minus Xavier's largest depth trained on every seed (layers)"),
            (he or 0) > (xavier or 0)),
        reporting.claim(
            "lsuv_trains_as_deep_as_he",
            "map 1: LSUV's largest depth at which every seed trained is at least He's",
            {"lsuv_max_trainable_depth": lsuv, "he_max_trainable_depth": he},
            margins.margin(_lsuv_lead, samples, 0, ">=",
                           "LSUV's minus He's largest depth trained on every seed (layers)"),
            lsuv is not None and (lsuv or 0) >= (he or 0)),
        reporting.claim(
            "xavier_stall_depth",
            f"map 1: the smallest depth of the grid at which no seed of Xavier trained ({criterion}) "
            "exists, and He trains there on every seed",
            {"xavier_stall_depth": stall,
             "he_trained_there": he_row.get(str(stall), {}).get("trained") if stall else None},
            margins.margin(lambda s: _he_worst_at_stall(s, chance), {"trained": samples, "errors": errors},
                           trained_below, "<=", "He's highest seed's final test error at Xavier's stall depth",
                           per_seed=(errors.get("he") or {}).get(str(stall))),
            stall is not None and all(he_row.get(str(stall), {}).get("trained", [False]))),
    ]


def map2_claims(cells, critical):
    return mean_field_map.map_claims(cells, critical, "map 2", config.SCHOENHOLZ_MULTIPLIER,
                                     config.AGREEMENT_REQUIRED, config.FIT_MULTIPLIERS)


def redraw_report(report, workdir=None):
    """The report with its claims redrawn from its own tables (the run folders are not
    committed)."""
    chance = 1.0 - 1.0 / data.num_classes(report["dataset"])
    report = {**reporting.numeric_order(report), "fidelity": stored_fidelity(report, workdir)}
    report["map1"] = reporting.in_order(report["map1"], [key for key, _, _ in config.MAP1_INITIALIZERS])
    return {**report, "claims": map1_claims(report["map1"], chance)
            + map2_claims(report["map2"]["cells"], report["map2"]["critical_sigma_w2"])}


def build_report(runs, profile, fidelity=None):
    """report.json's content: claims, both maps' tables and map 1's fidelity gauge
    (`reproductions.fidelity`), if given."""
    first = runs[0]["config"]
    table, cells = map1_table(runs), map2_table(runs)
    critical = mean_field.critical_sigma_w2("tanh", config.SIGMA_B2)
    relu_rates = {str(fact(r, "depth")): r["config"]["learning_rate"] for r in select(runs, map="relu")}
    tanh = select(runs, map="tanh")
    return {
        "paper": "trainability",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"map1_steps": next((r["config"]["steps"] for r in select(runs, map="relu")), None),
                   "map2_steps": next((r["config"]["steps"] for r in tanh), None),
                   "map1_learning_rate_by_depth": dict(sorted(relu_rates.items(), key=lambda kv: int(kv[0]))),
                   "map2_learning_rate": tanh[0]["config"]["learning_rate"] if tanh else None,
                   "map2_width": tanh[0]["config"]["model_kwargs"]["width"] if tanh else None,
                   "sigma_b2": config.SIGMA_B2},
        "claims": map1_claims(table, chance_error(runs[0])) + map2_claims(cells, critical),
        "map1": table,
        "map2": {"critical_sigma_w2": critical, "cells": cells},
        "fidelity": fidelity,
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}. Map 1: {budget['map1_steps']} updates, "
               f"SGD momentum 0.9, learning rate by depth {budget['map1_learning_rate_by_depth']}. Map 2: "
               f"{budget['map2_steps']} updates of plain SGD at lr {budget['map2_learning_rate']}, width "
               f"{budget['map2_width']}, sigma_b^2 = {budget['sigma_b2']}; critical sigma_w^2 = "
               f"{report['map2']['critical_sigma_w2']:.4f}.")
    depths = sorted({int(d) for row in report["map1"].values() for d in row["depths"]})
    rows = []
    for row in report["map1"].values():
        cells = []
        for depth in depths:
            cell = row["depths"].get(str(depth))
            if cell is None:
                cells.append("-")
                continue
            trained, seeds = sum(cell["trained"]), len(cell["trained"])
            cells.append(f"{reporting.percent(cell['final_test_error']['mean'])} ({trained}/{seeds})")
        rows.append((row["label"], *cells, row["max_trainable_depth"] or "none"))
    map1 = ["Map 1: mean final test error (%) and seeds trained, by depth:", "",
            *reporting.markdown_table(("initializer", *(f"{d} layers" for d in depths), "max trainable depth"),
                                      rows)]
    map2 = mean_field_map.map_markdown(
        report["map2"]["cells"], "Map 2: mean final test accuracy (%) by sigma_w^2 and depth (* trained by "
                                 "majority of seeds):")
    return reporting.report_markdown(
        f"Trainability maps: claims ({report['profile']} profile)", setting, report["claims"],
        [map1, map2, fidelity_markdown(report.get("fidelity"))
         or ["Fidelity of map 1 at initialization: not measured (no fidelity.json in the workdir)."]])
