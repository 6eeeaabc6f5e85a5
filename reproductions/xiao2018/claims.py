"""Xiao et al. 2018: the depth table, the CNN map, the spectra, the claims (criteria in
`reproductions/configs/xiao2018.py`, fixed before the runs) and the report."""

import numpy as np

from initializers.diagnostics import mean_field
from reproductions import mean_field_map
from reproductions import report as reporting
from reproductions.configs import xiao2018 as config
from reproductions.runs import chance_error, fact, final_error, first_step_at_or_below, seed_summary, select
from reproductions.xiao2018.spectra import spread_table


def trained(run):
    """A map cell's run trained: final test error <= chance - TRAINED_BELOW_CHANCE."""
    error = final_error(run)
    return error is not None and error <= chance_error(run) - config.TRAINED_BELOW_CHANCE


def curve_runs(runs):
    """The depth curves' runs: every initializer at its own (critical or Keras) setting."""
    return select(runs, curve=True)


def depth_table(runs):
    """Per initializer (config order), per depth: final test error over seeds and the
    first evaluated update at which the error is <= chance - TRAINED_BELOW_CHANCE."""
    curves = curve_runs(runs)
    table = {}
    for key, label in config.INITIALIZERS:
        group = select(curves, init=key)
        if not group:
            continue
        table[key] = {"label": label, "depths": {
            str(depth): {"final_test_error": seed_summary([final_error(r) for r in cell]),
                         "updates_to_leave_chance": [
                             first_step_at_or_below(r, chance_error(r) - config.TRAINED_BELOW_CHANCE)
                             for r in cell]}
            for depth in sorted({fact(r, "depth") for r in group}) for cell in [select(group, depth=depth)]}}
    return table


def _deepest_errors(table, key, depth):
    return ((table.get(key) or {}).get("depths", {}).get(str(depth)) or {}).get("final_test_error", {})


def depth_claims(table, chance):
    """The three claims on the deepest curve depth."""
    depths = sorted({int(d) for row in table.values() for d in row["depths"]})
    if not depths:
        return []
    deepest = depths[-1]
    delta, gaussian = _deepest_errors(table, "delta_orthogonal", deepest), _deepest_errors(table, "gaussian", deepest)
    delta_seeds = delta.get("per_seed") or []
    others = {key: (_deepest_errors(table, key, deepest).get("per_seed") or [])
              for key in ("keras_he_normal", "keras_glorot_uniform")}
    well = chance - config.WELL_ABOVE_CHANCE
    return [
        reporting.claim(
            "delta_orthogonal_trains_deepest_net",
            f"{deepest} layers: every seed of delta-orthogonal at the critical point ends with test error "
            f"<= chance - {config.WELL_ABOVE_CHANCE:g} ({well:.2f})",
            {"depth": deepest, "final_test_error": delta, "chance_error": chance},
            bool(delta_seeds) and all(e is not None and e <= well for e in delta_seeds)),
        reporting.claim(
            "gaussian_trains_slower",
            f"{deepest} layers: Gaussian weights at the same critical point end with a mean test error at "
            f"least {config.SLOWER_BY:g} above delta-orthogonal's (a diverged seed counts as chance)",
            {"depth": deepest, "delta_orthogonal": delta, "gaussian": gaussian},
            _mean_or_chance(gaussian, chance) >= _mean_or_chance(delta, chance) + config.SLOWER_BY),
        reporting.claim(
            "he_and_glorot_do_not_train",
            f"{deepest} layers: every seed of keras.HeNormal and keras.GlorotUniform ends with test error "
            f"> chance - {config.NOT_TRAINED_WITHIN:g} (diverged counts as not trained)",
            {"depth": deepest, **{key: seeds for key, seeds in others.items()}},
            all(seeds and all(e is None or e > chance - config.NOT_TRAINED_WITHIN for e in seeds)
                for seeds in others.values())),
    ]


def _mean_or_chance(summary, chance):
    seeds = summary.get("per_seed") or []
    return float(np.mean([chance if e is None else e for e in seeds])) if seeds else float("nan")


def spectra_claims(spectra):
    """The two dynamical-isometry claims from spectra.json (none when it is missing)."""
    if spectra is None:
        return []
    table = spread_table(spectra)
    depths = [str(d) for d in spectra["settings"]["depths"]]
    delta = {d: table["delta_orthogonal"][d]["mean"] for d in depths}
    gaussian = {d: table["gaussian"][d]["mean"] for d in depths}
    ratios = {d: gaussian[d] / delta[d] for d in depths}
    delta_growth = delta[depths[-1]] / delta[depths[0]]
    gaussian_growth = gaussian[depths[-1]] / gaussian[depths[0]]
    bound = config.ISOMETRY_GROWTH_BOUND
    return [
        reporting.claim(
            "gaussian_spectrum_wider",
            f"Jacobian singular values (std / mean, mean over draws): Gaussian's spread is at least "
            f"{config.SPREAD_RATIO:g}x delta-orthogonal's at every measured depth, and grows at least "
            f"{bound:g}x from depth {depths[0]} to {depths[-1]}",
            {"gaussian_over_orthogonal": ratios, "gaussian_growth": gaussian_growth},
            all(r >= config.SPREAD_RATIO for r in ratios.values()) and gaussian_growth >= bound),
        reporting.claim(
            "orthogonal_spread_bounded",
            f"delta-orthogonal's spread grows less than {bound:g}x from depth {depths[0]} to {depths[-1]} "
            "(dynamical isometry at any depth)",
            {"spread": delta, "growth": delta_growth},
            delta_growth < bound),
    ]


def build_report(runs, profile, spectra):
    """report.json's content: claims, the depth table, the map's cells, the spreads."""
    first = runs[0]["config"]
    table = depth_table(runs)
    cells = mean_field_map.map_cells(select(runs, map=True), config.SIGMA_B2, trained)
    critical = mean_field.critical_sigma_w2("tanh", config.SIGMA_B2)
    chance = chance_error(runs[0])
    kwargs = first["model_kwargs"]
    return {
        "paper": "xiao2018",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": first["steps"], "learning_rate": first["learning_rate"],
                   "batch_size": first["batch_size"], "channels": kwargs["channels"],
                   "downsampling": kwargs["downsampling"], "readout": kwargs["readout"],
                   "sigma_w2": config.SIGMA_W2, "sigma_b2": config.SIGMA_B2, "chance_error": chance},
        "claims": (depth_claims(table, chance)
                   + mean_field_map.map_claims(cells, critical, "CNN map", config.SCHOENHOLZ_MULTIPLIER,
                                               config.AGREEMENT_REQUIRED, config.FIT_MULTIPLIERS)
                   + spectra_claims(spectra)),
        "depths": table,
        "map": {"critical_sigma_w2": critical, "cells": cells},
        "spectra": None if spectra is None else {"settings": spectra["settings"], "spread": spread_table(spectra),
                                                 "seconds": spectra["seconds"]},
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}; vanilla tanh CNN, {budget['channels']} "
               f"channels, {budget['downsampling']} stride-2 convolutions, readout {budget['readout']}; "
               f"{budget['steps']} updates of SGD momentum 0.9 at lr {budget['learning_rate']:g}, batch "
               f"{budget['batch_size']}; critical point sigma_w^2 = {budget['sigma_w2']}, sigma_b^2 = "
               f"{budget['sigma_b2']}; critical sigma_w^2 for this sigma_b^2: "
               f"{report['map']['critical_sigma_w2']:.5f}.")
    depths = sorted({int(d) for row in report["depths"].values() for d in row["depths"]})
    rows = []
    for row in report["depths"].values():
        cells = []
        for depth in depths:
            cell = row["depths"].get(str(depth))
            summary = (cell or {}).get("final_test_error") or {}
            cells.append("-" if cell is None else
                         f"{reporting.percent(summary['mean'])} +- {reporting.percent(summary['std'])}")
        rows.append((row["label"], *cells))
    curves = ["Final test error (%), mean +- std over seeds, by depth:", "",
              *reporting.markdown_table(("initializer", *(f"{d} layers" for d in depths)), rows)]
    sections = [curves, mean_field_map.map_markdown(
        report["map"]["cells"], "CNN map, delta-orthogonal: mean final test accuracy (%) by sigma_w^2 and "
                                "depth (* trained by majority of seeds):")]
    if report["spectra"]:
        spread = report["spectra"]["spread"]
        spectra_depths = list(next(iter(spread.values())))
        sections.append(["Jacobian spread (std / mean of the singular values), mean over draws:", "",
                         *reporting.markdown_table(("initializer", *(f"depth {d}" for d in spectra_depths)),
                                                   [(key, *(f"{spread[key][d]['mean']:.3g}" for d in spectra_depths))
                                                    for key in spread])])
    return reporting.report_markdown(f"Xiao et al. 2018: claims ({report['profile']} profile)", setting,
                                     report["claims"], sections)
